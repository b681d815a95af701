"""Teleportation's receiver: its X and Z corrections carry the one-qubit gate error."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from dqsim.protocols.teleport import TeleportReceive, teleport_receiver


class _RecordingContext:
    """Records each gate and its error probability; hands the receiver the bits (1, 1)."""

    def __init__(self):
        self.applied = []

    def receive(self, tag):
        return ("receive", tag)

    def apply(self, op, error_probability=0.0):
        self.applied.append((op.name, error_probability))

    def log(self, kind, text):
        pass

    def name_of(self, node):
        return f"n{node}"


def _run(gen, bits=(1, 1)):
    command = next(gen)
    assert command[0] == "receive"
    with pytest.raises(StopIteration) as done:
        gen.send(SimpleNamespace(payload=bits))
    return done.value.value


def test_receiver_corrections_use_the_one_qubit_error():
    ctx = _RecordingContext()
    assert _run(teleport_receiver(ctx, 0, 2, "t", gate_1q_error=0.03)) == (1, 1)
    assert ctx.applied == [("x", 0.03), ("z", 0.03)]


def test_receiver_no_longer_takes_the_ambiguous_gate_error_keyword():
    with pytest.raises(TypeError):
        next(teleport_receiver(_RecordingContext(), 0, 2, "t", gate_error=0.03))


def test_receiver_restored_from_a_checkpoint_with_the_old_attribute_name_uses_it():
    part = TeleportReceive(0, 2, "t", 0.0)
    part.__dict__ = {"peer": 0, "comm_here": 2, "tag": "t", "gate_error": 0.05, "result": None}
    restored = pickle.loads(pickle.dumps(part))
    ctx = _RecordingContext()
    restored.advance(ctx, SimpleNamespace(payload=(1, 0)))
    assert ctx.applied == [("z", 0.05)]
