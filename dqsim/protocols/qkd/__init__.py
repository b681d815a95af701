"""BB84 quantum key distribution with decoy states: physics, simulation, post-processing.

Pure functions and small frozen dataclasses; no MPI and no import of the
event engine (the node processes of :mod:`~dqsim.protocols.qkd.nodes` use
only the process context the engine hands them).

Modules:

* :mod:`~dqsim.protocols.qkd.theory`: binary entropy, gains and QBER of
  weak coherent pulses, single-photon yield and error, the GLLP key rate
  (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)).
* :mod:`~dqsim.protocols.qkd.decoy`: vacuum + weak decoy and one-decoy
  bounds on Y1, e1, Q1.
* :mod:`~dqsim.protocols.qkd.bb84`: batch simulation of Alice's source, the
  fibre, Eve (intercept-resend, beam splitting) and Bob's receiver (dark
  counts, misalignment, double clicks, dead time, afterpulsing), on NumPy
  or CuPy, with randomness that does not depend on the batch size.
* :mod:`~dqsim.protocols.qkd.detections`: the same BB84 process sampled at
  the cost of the detections (the scenario's default sampler).
* :mod:`~dqsim.protocols.qkd.postprocess`: sifting, counts per intensity
  class, asymptotic or finite-key secret-key length, and the block
  post-processing run on the key bits (:func:`postprocess_block`).
* :mod:`~dqsim.protocols.qkd.finite_key`: the finite-key bounds of Lim et
  al., PRA 89, 022307 (2014), and the paper's fibre model; Tomamichel et
  al.'s for entanglement-based BB84 (BBM92); E91's CHSH bound with finite
  statistics (Scarani & Renner, PRL 100, 200501 (2008), collective attacks).
* :mod:`~dqsim.protocols.qkd.reconciliation`: Cascade, Toeplitz hashing
  (verification, privacy amplification).
* :mod:`~dqsim.protocols.qkd.entangled`: BBM92 and E91 (one pair or an SPDC
  source per slot, misalignment, dead time, afterpulsing), CHSH.
* :mod:`~dqsim.protocols.qkd.entangled_block`: a BBM92/E91 key block's
  asymptotic or finite-key length (BBM92: Tomamichel et al., Nat. Commun. 3,
  634 (2012); E91: the CHSH bound), with the leakage modelled or Cascade run
  on the key bits.
* :mod:`~dqsim.protocols.qkd.spdc`: the SPDC source in closed form and its
  optimal mean pair number.
* :mod:`~dqsim.protocols.qkd.nodes`: Alice's and Bob's processes of a link,
  driven by a :class:`~dqsim.protocols.qkd.nodes.QkdPlan`.
"""

from dqsim.protocols.qkd.bb84 import (
    ATTACKS,
    BASIS_X,
    BASIS_Z,
    CHUNK,
    EVE_BASES,
    PURPOSE_ALICE,
    PURPOSE_BOB,
    PURPOSE_EVE,
    SEGMENT_PULSES,
    AliceBatch,
    BobBatch,
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    ReceiverState,
    alice_batch,
    bob_detect,
)
from dqsim.protocols.qkd.decoy import DECOY_METHODS, DecoyEstimate, one_decoy, two_decoy, vacuum_weak_decoy
from dqsim.protocols.qkd.postprocess import (
    DEFAULT_QBER_THRESHOLD,
    BlockCounts,
    BlockResult,
    block_counts,
    estimate_block,
    sift,
)
from dqsim.protocols.qkd.theory import (
    BACKGROUND_ERROR_RATE,
    DEFAULT_ERROR_CORRECTION_EFFICIENCY,
    DEFAULT_SIFTING_FACTOR,
    background_yield,
    binary_entropy,
    error_gain,
    gain,
    gllp_key_rate,
    qber,
    single_photon_error,
    single_photon_yield,
    theoretical_key_rate,
)

__all__ = [
    "ATTACKS",
    "BACKGROUND_ERROR_RATE",
    "BASIS_X",
    "BASIS_Z",
    "CHUNK",
    "DECOY_METHODS",
    "DEFAULT_ERROR_CORRECTION_EFFICIENCY",
    "DEFAULT_QBER_THRESHOLD",
    "DEFAULT_SIFTING_FACTOR",
    "EVE_BASES",
    "PURPOSE_ALICE",
    "PURPOSE_BOB",
    "PURPOSE_EVE",
    "SEGMENT_PULSES",
    "AliceBatch",
    "BlockCounts",
    "BlockResult",
    "BobBatch",
    "ChannelModel",
    "DecoyEstimate",
    "DecoySource",
    "DetectorModel",
    "EveModel",
    "ReceiverState",
    "alice_batch",
    "background_yield",
    "binary_entropy",
    "block_counts",
    "bob_detect",
    "error_gain",
    "estimate_block",
    "gain",
    "gllp_key_rate",
    "one_decoy",
    "two_decoy",
    "qber",
    "sift",
    "single_photon_error",
    "single_photon_yield",
    "theoretical_key_rate",
    "vacuum_weak_decoy",
]
