"""The parallel discrete-event engine (see :mod:`dqsim.engine.simulator`)."""

from dqsim.engine.quantum import QOp, QuantumMemory, apply_qop
from dqsim.engine.simulator import (
    ClockLimitError,
    EngineError,
    MeasureCmd,
    Message,
    NodeContext,
    Receive,
    RunStatistics,
    Simulator,
    StuckProcessError,
    Wait,
)

__all__ = ["ClockLimitError", "EngineError", "MeasureCmd", "Message", "NodeContext", "QOp", "QuantumMemory", "Receive",
           "RunStatistics", "Simulator", "StuckProcessError", "Wait", "apply_qop"]
