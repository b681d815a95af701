"""One-way information reconciliation by LDPC syndrome decoding, the option beside Cascade.

Alice sends, for each frame of her key, the syndrome ``s = H·x_A`` of a
low-density parity-check code; Bob decodes his error pattern from
``s XOR H·x_B`` by belief propagation (sum-product,
:mod:`dqsim.backend.ldpc_kernels`) and flips it. One message from Alice, no
interaction: D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, "Efficient
reconciliation protocol for discrete-variable quantum key distribution", ISIT
2009 (arXiv:0901.2140); D. Elkouss, J. Martinez-Mateo, V. Martin, "Information
reconciliation for quantum key distribution", Quantum Inf. Comput. 11, 226 (2011).

**Codes.** Nine mother codes of rates :data:`MOTHER_RATES` (0.50 to 0.90 in
steps of 0.05) with the irregular degree distributions that Elkouss et al.
(2009, Table I) optimised for the binary symmetric channel by density
evolution (:data:`DEGREE_TABLE`): the columns follow the table's variable
degrees (:func:`degree_profile`), the checks' degrees come out concentrated
around the table's mean (within two of each other: the edge growth takes the
checks of lowest degree), as the table's check distributions nearly are. The graph is built by progressive edge growth
restricted to depth two (X.-Y. Hu, E. Eleftheriou, D. M. Arnold, "Regular and
irregular progressive edge-growth Tanner graphs", IEEE Trans. Inf. Theory 51,
386 (2005)): each variable in turn, lowest degree first, joins the checks of
lowest degree that share no variable with its other checks (no 4-cycle where
one can be avoided), ties broken by the run's public random stream
(:class:`dqsim.rng.Stream` keyed by the seed and :data:`PURPOSE_CODE`, event =
the code's length and rate): a seed gives the same codes on any number of
ranks, and a process builds each code once (:func:`mother_code`); since 2026-12-07 (later) the built codes are
kept on disk (:func:`dqsim.caches.stored_arrays`, keyed by :func:`code_key`), where a second run and every rank
load them, bit for bit the same (``dqsim warmup JOB`` builds a job's). The frames
are at most :func:`longest_frame_bits` long: :data:`FRAME_BITS` (65,536) where
the frame's code has at most :data:`MAX_FRAME_CHECKS` checks (target rates of
0.875 and above, QBER up to about 1 %), else :data:`BASE_FRAME_BITS` (16,384,
every frame's limit until 2026-12-07); shorter codes, in steps of √2, for short keys.

**Rate adaptation** (Elkouss, Martinez-Mateo, Martin 2011, Sec. 4). The
target rate of a block is ``R = 1 - f·h(E)`` for the QBER estimate E and a
target efficiency f (the job's ``f_ec``). A frame of a code of length n with m
checks holds k key bits, ``p`` *punctured* positions (random bits of Alice's
that Bob does not know: channel LLR 0) and ``s = n - k - p`` *shortened* ones
(zeros both sides know), the lowest-degree columns punctured first, then
shortened, the key bits in the highest-degree ones (:func:`mother_code`). It discloses ``m - p`` bits of information about the key,
so its rate is ``1 - (m - p)/k``; ``p + s >= δ·n`` with δ =
:data:`MODULATED_SHARE`, and ``p <= MAX_PUNCTURED_SHARE·n``. Each block takes the
mother code whose syndrome, less the punctured bits, comes nearest to
``(1 - R)·k`` from above, puncturing as little as it can (:func:`frame_plan`; blind frames since 2026-12-07,
morning, the lowest-rate one whose first syndrome they can puncture to, below).

**Blind** (J. Martinez-Mateo, D. Elkouss, V. Martin, "Blind reconciliation", Quantum Inf. Comput. 12, 791
(2012); ``mode="blind"``, the job's default ``ldpc_mode``). The frames are those of the rate-adaptive choice,
and so was the mother code until 2026-12-07 (morning); since then it is, of the codes whose syndrome holds the
target rate's, the lowest-rate one whose first syndrome the frame's punctured positions reach
(:func:`frame_plan`'s ``start_rate``; ``frame_code="start"`` of :func:`reconcile`). A frame's first syndrome
punctures ``p_0`` positions, as many as the rate ``1 - f_0·h(E)`` for the estimate itself needs
(f_0 = :data:`BLIND_START_EFFICIENCY`, no margin; :func:`blind_schedule`). Where Bob's decoder finds no word
(or one whose hash differs), he asks, one flag, and Alice reveals the values of the last Δ still-punctured
positions (Δ = ⌈:data:`BLIND_STEP_EFFICIENCY`·h(E)·k⌉), which become shortened: Bob decodes again with them
known, until the frame decodes or none is left (the mother code's own rate). He continues from the failed
attempt's edge messages, the revealed positions' channel
LLRs set to ±:data:`SHORTENED_LLR` (a *warm* restart, ``restart="warm"``; ``"cold"`` starts again from the
channel LLRs, as this code did until 2026-12-06, night). Continuing is our choice (we have not checked
whether Martinez-Mateo et al. do). Which values a step reveals is fixed by the frame layout, so Alice knows
them without being told. (E. O. Kiktenko et al., "Symmetric blind information reconciliation for quantum key
distribution", arXiv:1612.03673, reveal instead the positions a failed decoding found least reliable. Tried
2026-12-07 with Bob naming the Δ hidden positions of least posterior |L_v|, a message that depends on his
decoding and so is charged like his flags below, ``⌈log2 C(h, Δ)⌉`` bits a step for h still hidden: the
revealed values fell by 10-24 % at 1-4 % and the round trips at 1 % from 6.8 to 5.4 a key, but the positions
cost more than that saved, f_EC 1.60 / 1.49 / 1.31 / 1.22 against 1.23 / 1.18 / 1.15 / 1.12 at QBER 1 / 2 /
4 / 8 %; 1.19 / 1.16 / 1.14 / 1.12 had the positions been free, which we cannot show they are;
``bench/results/qkd-ldpc-layered-vm-20261207.md``. Not kept.) An attempt is over when H·e matches
the syndrome (checked every iteration, as before), after :data:`MAX_ITERATIONS`, or, with punctured values
still to reveal, once :data:`BLIND_STALL_ITERATIONS` iterations in a row found no fewer unsatisfied checks
than its fewest. Since 2026-12-07 an iteration is a layered pass (``schedule="layered"``: the checks one after
the other, each reading what the checks before it wrote; :mod:`dqsim.backend.ldpc_kernels`, "Schedules"),
which converges in about half the iterations of the flooding schedule before it (``schedule="flooding"``).
What is disclosed depends on the restart and the stall limit only through the step at which a frame
decodes. Each request and its answer is a round trip on the classical channel; the frames ask together, so a
block takes as many round trips as its slowest frame (``rounds``). A
revealed value is a bit of Alice's punctured randomness made public: the frame then discloses
``m - rank(H_P0) + r`` for r revealed values (at least ``m - rank(H_Pr)`` for the positions still
punctured, and equal to it when H's punctured columns are independent, as they nearly always are; the
count never understates). Measured (``bench/results/qkd-ldpc-blind-vm-20261206.md``, keys of 100,000 bits):
f_EC 1.22 / 1.18 / 1.15 / 1.13 at QBER 1 / 2 / 4 / 8 % with no frame of 35 failed, against 1.40 / 1.30 /
1.20 / 1.15 one-way at the least targets (:data:`LEAST_EFFICIENCY`; 1.32 and 1.29 at 4 and 8 % with the
failed frames' bits charged), at up to 8 round trips a key and 3-38 times the one-way decoding CPU (each
failed attempt then ran :data:`MAX_ITERATIONS` from the channel LLRs). With the warm restart and the stall
limit (``bench/results/qkd-ldpc-blind-warm-vm-20261206.md``, same keys): f_EC 1.225 / 1.178 / 1.146 / 1.127,
no frame failed, 0.64-0.73 of the cold restart's decoder iterations (0.09-0.24 million key bits per CPU
second against 0.06-0.18 in that run). With the layered schedule and a stall limit of 20 layered iterations
(since 2026-12-07, ``bench/results/qkd-ldpc-layered-vm-20261207.md``, same keys, alternated with the flooding
default key by key): f_EC 1.222 / 1.178 / 1.145 / 1.124 (1.225 / 1.179 / 1.145 / 1.124 with the request
flags now charged), no frame failed, 0.50-0.54 of the flooding default's decoder iterations, 0.14 / 0.14 /
0.27 / 0.34 million key bits per CPU second against 0.10 / 0.10 / 0.18 / 0.24 (1.4-1.5 times; 1.4-1.6 in a
rerun; load 14-22 on the 2-core VM); one-way decoding takes 0.53-0.60 of its iterations and runs 1.1-1.6
times as fast. Since 2026-12-07 (later; ``bench/results/qkd-ldpc-fec-vm-20261207.md``, same keys, every
disclosed bit charged, Bob's acknowledgement flags too): untainted puncturing (:func:`untainted_first`),
reveal steps of 0.01·h(E)·k (:data:`BLIND_STEP_EFFICIENCY`; 0.03 before) and, at target rates from 0.875,
frames of 65,536 bits (:func:`longest_frame_bits`): f_EC 1.211 / 1.147 / 1.139 / 1.127 at QBER 1 / 2 / 4 / 8 %
against 1.226 / 1.180 / 1.146 / 1.124, no frame failed, at 0.33-0.75 of the speed (0.03 / 0.06 / 0.08 / 0.12
million key bits per CPU second against 0.09 / 0.08 / 0.14 / 0.21; load 14-19) and about twice the round
trips (13.2 / 11.4 / 8.6 / 6.6 a key against 6.8 / 4.8 / 3.2 / 2.0). At 1 % the frames decode at f 1.17-1.20
before any hash, flag or step is charged (the rate-0.9 code's threshold is f 1.15 at its own rate), so the
goal of 1.20 is not reached with these codes. Since 2026-12-07 (morning; ``bench/results/qkd-ldpc-fec-vm-20261207b.md``,
same keys, alternated with main's defaults key by key) a blind frame takes the lowest-rate mother code whose first
syndrome its punctured positions reach (``frame_code="start"``, :func:`frame_plan`'s ``start_rate``: the rate-0.85
code at 1 %, whose frames start punctured more and shortened less) and an attempt gives up after
:data:`BLIND_STALL_ITERATIONS` = 8 stalled iterations (20 before): f_EC 1.176 / 1.151 / 1.141 / 1.126 at QBER 1 / 2
/ 4 / 8 % against 1.211 / 1.147 / 1.139 / 1.127, no frame failed, at 0.09 / 0.12 / 0.15 / 0.20 million key bits
per CPU second against 0.03 / 0.07 / 0.10 / 0.12 (0.10 / 0.09 / 0.18 / 0.21 with the blind mode of before
2026-12-07, same run; load 8-22) and 5.0 / 11.6 / 8.8 / 6.0 round trips a key against 13.2 / 11.4 / 8.6 / 6.6.

**Leakage.** Every frame discloses ``m - rank(H_P)`` bits, decoded or not (and its hash and Bob's flags, below),
where ``H_P`` is H's columns at the punctured positions (``m - p`` when they are
independent, as they nearly always are; :meth:`LdpcCode.punctured_rank`):
the syndrome is ``H_K·x_K + H_P·x_P`` with ``x_P`` uniform and private to Alice.
``f_EC = Σ leak / (N·h(E))`` over the block's N key bits. Bob tells Alice, one
bit a frame in his acknowledgement, which frames failed (no syndrome match
within :data:`MAX_ITERATIONS`): both drop those frames' key bits, and the
key-length formula charges them as disclosed (a bit of key carries at most a
bit of secrecy, so this never overstates the key).

**Bob's request flags** (blind). Each round trip starts with Bob's flag for each frame that asks for more
values (``request_bits``, one a frame and step). Since 2026-12-07 each is charged as a bit of leakage. A
flag is public and says whether Bob's decoding failed: a function of what the decoder saw, the syndrome
``H·e`` of the error pattern e whose punctured part is Alice's punctured bits ``x_P``. Those are not
independent of the key once her syndrome ``s = H_K·x_K + H_P·x_P`` is public (what a flag tells about
``x_P`` it tells about ``H_K·x_K``), and on a channel Eve controls the errors need not be independent of
the key either; so a flag can carry up to a bit about the key, and charging a bit a flag is the
conservative bound (a flag carries at most one bit whatever it depends on; we have not checked whether
Martinez-Mateo et al. charge the requests). A flag costs ``1/(h(E)·k)`` of f: 0.0009 at QBER 1 % and
0.0002 at 8 % for frames of 14,286 key bits; on the bench's keys f_EC rose by 0.003 at 1 % (4 flags a frame),
0.001 at 2 % and less at 4-8 %. The flag a frame in Bob's acknowledgement (decoded or not, in both modes),
which was not charged before, is charged too since 2026-12-07 by the same argument (:data:`ACK_BITS`, a bit
a frame). A frame can also converge to
a wrong word (same syndrome, other bits: with punctured positions free, some
words differ from the right one in a few key bits: 1 frame of 35 at QBER 2 %,
3 bits wrong, in a run of ``bench/qkd_ldpc.py`` before this check, 2026-12-06): Alice's key
message carries a :data:`FRAME_CHECK_BITS`-bit Toeplitz hash of each frame's
key bits (seed from the block's generator), charged as leakage, and a frame
whose decoded bits hash differently fails like one that did not converge. A
wrong word that passes it (probability ``2^-FRAME_CHECK_BITS``) is caught by
the block's verification hash (:func:`dqsim.protocols.qkd.reconciliation.postprocess_key`),
which then discards the block, as with Cascade.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from dqsim.backend import ldpc_kernels
from dqsim.caches import stored_arrays
from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.reconciliation import toeplitz_hash_of_positions
from dqsim.protocols.qkd.theory import binary_entropies, binary_entropy
from dqsim.rng import Stream

__all__ = ["DEGREE_TABLE", "FRAME_BITS", "FramePlan", "LDPC_MODES", "LdpcCode", "LdpcResult", "MOTHER_RATES",
           "blind_schedule", "block_code", "build_code", "build_seconds", "code_lengths", "degree_profile", "design_qber", "frame_plan", "gf2_rank",
           "least_efficiency", "longest_frame_bits", "mother_code", "reconcile", "reconciler", "target_rate"]

#: Edge-perspective degree distributions ``(λ, ρ)`` of the mother codes, ``{degree: share of the edges}``:
#: D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, ISIT 2009, Table I (optimised for the binary
#: symmetric channel by differential evolution over discretized density evolution; thresholds 0.1071 at rate
#: 0.5 to 0.0109 at 0.9). A term ``c·x^(i-1)`` of the table's λ(x) is ``{i: c}`` here. The rate-0.85 λ as
#: printed sums to 1.0515 (its ``x^4`` term, 0.094274, is likely 0.04274); :func:`degree_profile` divides
#: each distribution by its sum, which leaves that code's design rate at 0.851.
DEGREE_TABLE = {
    0.90: ({2: 0.07689, 3: 0.28096, 5: 0.08933, 9: 0.19620, 12: 0.30631, 21: 0.05031}, {50: 0.95025, 51: 0.04975}),
    0.85: ({2: 0.04528, 3: 0.20537, 4: 0.05878, 5: 0.094274, 6: 0.08454, 7: 0.01176, 9: 0.05137, 21: 0.50015},
           {41: 0.54204, 42: 0.45795}),
    0.80: ({2: 0.09420, 3: 0.18088, 6: 0.11972, 7: 0.08550, 8: 0.09816, 17: 0.07194, 26: 0.34960},
           {29: 0.58807, 30: 0.41193}),
    0.75: ({2: 0.10805, 3: 0.09511, 4: 0.01449, 5: 0.13764, 6: 0.10667, 7: 0.05288, 28: 0.01107, 31: 0.47408},
           {25: 0.74161, 26: 0.25839}),
    0.70: ({2: 0.05343, 3: 0.29406, 6: 0.00896, 9: 0.15571, 12: 0.12189, 25: 0.19872, 46: 0.09572, 62: 0.02741,
            65: 0.04056, 73: 0.00354}, {20: 0.76922, 21: 0.23077}),
    0.65: ({2: 0.10451, 3: 0.15652, 4: 0.08057, 5: 0.00056, 9: 0.12151, 13: 0.10485, 15: 0.10719, 21: 0.00771,
            51: 0.31656}, {2: 0.000578, 15: 0.06089, 16: 0.47001, 21: 0.46852}),
    0.60: ({2: 0.11040, 3: 0.20804, 8: 0.14163, 9: 0.14858, 26: 0.14438, 27: 0.08909, 46: 0.00748, 71: 0.15038},
           {2: 0.00036, 10: 0.13063, 13: 0.31068, 18: 0.49341, 19: 0.064915}),
    0.55: ({2: 0.16880, 3: 0.20994, 6: 0.18095, 15: 0.03846, 16: 0.02635, 18: 0.23454, 19: 0.05815, 31: 0.08280},
           {10: 0.27631, 11: 0.72369}),
    0.50: ({2: 0.14438, 3: 0.19026, 4: 0.01836, 5: 0.00233, 6: 0.04697, 8: 0.053943, 9: 0.05590, 10: 0.01290,
            11: 0.00162, 14: 0.06159, 15: 0.13115, 17: 0.01481, 47: 0.00879, 49: 0.00650, 55: 0.00210, 56: 0.00099,
            57: 0.11178, 58: 0.06238, 59: 0.05094, 66: 0.02230},
           {10: 0.47575, 12: 0.46847, 13: 0.02952, 14: 0.02626}),
}
#: Rates of the mother codes (:data:`DEGREE_TABLE`), lowest first.
MOTHER_RATES = tuple(sorted(DEGREE_TABLE))
#: Length of the longest codes, bits (a frame: key bits plus punctured and shortened ones), for rates whose
#: frames have at most :data:`MAX_FRAME_CHECKS` checks (:func:`longest_frame_bits`); 16,384 until 2026-12-07.
FRAME_BITS = 65536
#: Longest code length at target rates whose frames at :data:`FRAME_BITS` would have more than
#: :data:`MAX_FRAME_CHECKS` checks (:func:`longest_frame_bits`), bits; every rate's until 2026-12-07.
BASE_FRAME_BITS = 16384
#: Most bits of a frame's syndrome at the target rate, ``n·(1 - R)``, at :data:`FRAME_BITS`
#: (:func:`longest_frame_bits`): the codes' build takes ``m²/8`` bytes and time about ``n·m``, and only the high
#: rates (R >= 0.875) gain from longer frames: at 16,384 bits the rate-0.9 code has only 1,638 checks, and a
#: frame's 16-bit hash and Bob's flags cost most per syndrome bit. Blind frames at these rates take the rate-0.85
#: code since 2026-12-07 (morning; :func:`frame_plan`'s ``start_rate``): 9,830 checks at 65,536 bits, 24.9 CPU s
#: to build against 15.2 for the rate-0.9 code (dev VM, load about 18).
MAX_FRAME_CHECKS = 8192
#: Shortest code length, bits (:func:`code_lengths`).
MIN_CODE_BITS = 256
#: δ: at least this share of a frame's positions is punctured or shortened (Elkouss et al. 2011), so a
#: frame of n bits holds at most ``(1 - δ)·n`` key bits.
MODULATED_SHARE = 0.1
#: Most punctured positions, as a share of the code length.
MAX_PUNCTURED_SHARE = 0.1
#: Most decoder iterations of a frame.
MAX_ITERATIONS = 100
#: Channel LLR of a shortened position (its error is known to be 0): larger than any message can grow.
SHORTENED_LLR = 1e6
#: Bits of each frame's Toeplitz hash in Alice's key message (module docstring), charged as leakage.
FRAME_CHECK_BITS = 16
#: Bits of Bob's acknowledgement a frame (decoded or failed), charged as leakage since 2026-12-07 (module
#: docstring, "Bob's flags").
ACK_BITS = 1
#: Standard errors of the QBER estimate added to it before the rate is chosen (:func:`design_qber`).
QBER_MARGIN_SIGMAS = 2.0
#: Ways of reconciling with LDPC codes (the job's ``[qkd].ldpc_mode``): one syndrome a frame at the chosen
#: rate, or blind reconciliation (module docstring).
LDPC_MODES = ("rate_adaptive", "blind")
#: Blind reconciliation: f of a frame's first syndrome, for the QBER estimate without its margin.
BLIND_START_EFFICIENCY = 1.1
#: Blind reconciliation: each step reveals this times h(E)·k punctured values of a frame of k key bits. 0.01
#: since 2026-12-07 (0.03 before): a frame that decodes overshoots what it needed by half a step on average,
#: and each step costs a request flag, 1/(h(E)·k) of f; the sum, ``s/2 + (steps)·1/(h(E)·k)``, is least near
#: 0.01 for frames of 25,000-50,000 key bits at QBER 1 % (estimated from the f at which frames decoded with
#: reveals of 8 bits; ``bench/results/qkd-ldpc-fec-vm-20261207.md``).
BLIND_STEP_EFFICIENCY = 0.01
#: Blind reconciliation: most reveal steps (round trips) of a frame (:func:`blind_schedule`); 20 until
#: 2026-12-07, when the steps became a third as large.
BLIND_MAX_STEPS = 60
#: Blind reconciliation's restarts (:func:`reconcile`'s ``restart``): ``"warm"`` continues the decoder from the
#: failed attempt's edge messages with the revealed positions known; ``"cold"`` starts it again from the
#: channel LLRs (what blind mode did until 2026-12-06, night).
BLIND_RESTARTS = ("warm", "cold")
#: Blind reconciliation: an attempt with punctured values still to reveal gives up once this many decoder
#: iterations in a row found no fewer unsatisfied checks than its fewest so far (the checks whose incoming
#: message signs miss their syndrome bit: :func:`dqsim.backend.ldpc_kernels.sum_product_decode`'s ``stall``; 0:
#: it runs :data:`MAX_ITERATIONS`); the last attempt always runs them all (:func:`reconcile`). 20 layered
#: iterations (since 2026-12-07; a layered iteration does about what two flooding ones do): on the bench's keys
#: (``bench/results/qkd-ldpc-layered-vm-20261207.md``) f_EC 1.222 / 1.178 / 1.145 / 1.124 at QBER 1 / 2 / 4 /
#: 8 % without the request flags, against 1.225 / 1.178 / 1.146 / 1.127 with 40 flooding iterations (the
#: default until then) and 1.221 / 1.177 / 1.144 / 1.124 with 40 layered ones, in 0.50-0.54 of the flooding
#: default's decoder iterations (0.71-0.84 with 40 layered ones). With flooding, a limit of 20 cost up to
#: +0.003 of f_EC (``bench/results/qkd-ldpc-blind-warm-vm-20261206.md``, and the new file). 8 since 2026-12-07
#: (morning), when the reveal steps had become a third as large and failed attempts most of the work: on the
#: bench's frames (scratch runs, 2026-12-07 morning; 35 frames a QBER) the frames' f before hash and flags rose by
#: 0.004 / 0.001 / 0.003 at QBER 2 / 4 / 8 % (0.002 / 0.001 / 0.002 with 12) and not at 1 %, in 0.57 / 0.56 /
#: 0.63 of the iterations with 20 (0.72 / 0.72 / 0.74 with 12); ``bench/results/qkd-ldpc-fec-vm-20261207b.md``.
#: Rules that wait longer on some attempts (:class:`~dqsim.backend.ldpc_kernels.StallRule`; 2026-12-07, later,
#: ``bench/results/qkd-ldpc-cache-vm-20261207.md``, the same keys alternated) did not recover the +0.004 / +0.002
#: at 2 / 4 % at this limit's speed: 10 or 12 iterations -0.0000 / -0.0009 and -0.0003 / -0.0009, giving up after 8
#: only where the count has not fallen over the last 3 (at most 20) -0.0006 / -0.0012 in 1.15 / 1.11 times the
#: iterations (and -0.0022 at 1 %, +0.0009 at 8 %); 20 itself -0.0040 / -0.0021 in 1.8 / 1.7 times. A limit of 20
#: by rate (on the codes of rate below 0.85, the 16,384-bit frames) is that, at its speed.
BLIND_STALL_ITERATIONS = 8
#: Decoder schedules (:func:`reconcile`'s ``schedule``): ``"layered"`` takes the checks one after the other,
#: each using the messages of the checks before it in the same iteration; ``"flooding"`` updates every check,
#: then every variable (what the decoder did until 2026-12-07; :mod:`dqsim.backend.ldpc_kernels`, "Schedules").
SCHEDULES = ("layered", "flooding")
#: Frame layouts (:func:`mother_code`'s ``puncturing``): ``"untainted"`` punctures untainted columns first
#: (:func:`untainted_first`; Elkouss, Martinez-Mateo, Martin 2012), ``"degree"`` the lowest-degree columns in
#: random order (what the frames did until 2026-12-07).
PUNCTURINGS = ("untainted", "degree")
#: How a blind frame's mother code is chosen (:func:`reconcile`'s ``frame_code``): ``"frame"``, the highest rate
#: whose syndrome holds what the frames must disclose at the target rate (the least puncturing; one-way always,
#: blind until 2026-12-07, morning); ``"start"``, of those, the lowest rate whose first syndrome
#: (:func:`blind_schedule`) is within the punctured positions a frame may have (more puncturing, less shortening;
#: :func:`frame_plan`'s ``start_rate``).
FRAME_CODES = ("frame", "start")
#: (QBER, f): the lowest target efficiency at which the codes failed at most one frame in 35 at that QBER
#: (100,000-bit keys through a binary symmetric channel, ``bench/results/qkd-ldpc-vm-20261206b.md``);
#: :func:`reconciler` chooses no rate below it (:func:`least_efficiency`).
LEAST_EFFICIENCY = ((0.01, 1.4), (0.02, 1.3), (0.04, 1.2), (0.08, 1.15))
#: Purpose of the random stream that builds the codes (:class:`dqsim.rng.Stream`).
PURPOSE_CODE = "qkd_ldpc_code"
#: Version of the mother codes' construction (:func:`build_code`, :func:`degree_profile`, the draws of
#: :func:`mother_code`), part of each code's key in the disk cache (:func:`code_key`): raise it with any change
#: that changes a built code, so that codes kept by an earlier version are not loaded.
CODE_CONSTRUCTION = 1
#: Sub-folder of :func:`dqsim.caches.cache_folder` that keeps the built mother codes (since 2026-12-07, later).
CODE_CACHE_KIND = "ldpc_codes"
#: Purpose of the stream of Alice's punctured bits where :func:`reconcile` is given no generator.
PURPOSE_PUNCTURED = "qkd_ldpc_punctured"
#: Bytes per key bit that a key block's end adds with LDPC (:func:`reconcile` inside
#: :func:`~dqsim.protocols.qkd.reconciliation.postprocess_key`: both keys unpacked, a byte a bit, Bob's corrected
#: copy, the kept flags, Alice's kept bits), beside :data:`END_FIXED_BYTES`. Measured by ``bench/qkd_ldpc.py``
#: (tracemalloc's peak above what was held before, packed keys in, the codes built before; QBER 4 %, target f
#: 1.25; dev VM, 2026-12-06): 3.94 MB at 3e5 key bits and 15.29 MB at 3e6, a line of 4.21 bytes a key bit and
#: 2.67 MB (``bench/results/qkd-ldpc-vm-20261206b.md``). ``dqsim check`` gives it.
END_BYTES_PER_KEY_BIT = 4.2
#: Bytes a block's end adds with LDPC whatever its length: one frame's vectors and the decoder's edge messages
#: at 16,384 bits (the codes, built once a run, 1-2 MB each at that length, are not counted); measured with
#: :data:`END_BYTES_PER_KEY_BIT` (QBER 4 %: frames of 16,384 bits). Frames of 65,536 bits (target rates from
#: 0.875, :func:`longest_frame_bits`, since 2026-12-07) have up to 4.1 times the edges of that measurement's
#: (405,516 against 99,422), so their end adds about 8 MB more than this; not measured.
END_FIXED_BYTES = 2.7e6


@dataclass(frozen=True, eq=False)
class LdpcCode:
    """A parity-check matrix H (``num_checks × num_bits``), stored check by check, and its frame layout.

    Attributes:
        num_bits: n, code length (columns).
        num_checks: m, parity checks (rows); the design rate is ``1 - m/n``.
        check_start: int64, ``m + 1`` offsets: the edges of check c are ``check_start[c]:check_start[c+1]``.
        edge_var: int64, the column of each edge.
        order: int64, a permutation of the columns: a frame punctures its first p, shortens the next s and
            puts its key bits in the rest, in order (``None``: the columns in order).
    """

    num_bits: int
    num_checks: int
    check_start: np.ndarray
    edge_var: np.ndarray
    order: np.ndarray | None = None
    _ranks: dict = field(default_factory=dict, repr=False)
    _layers: list = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        """Design rate ``1 - m/n``."""
        return 1.0 - self.num_checks / self.num_bits

    def syndrome(self, bits: np.ndarray) -> np.ndarray:
        """``H·bits mod 2`` (uint8, one per check)."""
        return np.bitwise_xor.reduceat(np.asarray(bits, dtype=np.uint8)[self.edge_var], self.check_start[:-1])

    def edge_check(self) -> np.ndarray:
        """The check of each edge (edges in check order, as :attr:`edge_var` lists their columns)."""
        return np.repeat(np.arange(self.num_checks), np.diff(self.check_start))

    def columns(self, which: np.ndarray) -> np.ndarray:
        """H's columns ``which`` as a dense bool matrix (``num_checks × len(which)``)."""
        where = np.full(self.num_bits, -1, dtype=np.int64)
        where[np.asarray(which, dtype=np.int64)] = np.arange(len(which))
        edge_check = self.edge_check()
        picked = where[self.edge_var] >= 0
        out = np.zeros((self.num_checks, len(which)), dtype=bool)
        out[edge_check[picked], where[self.edge_var[picked]]] = True
        return out

    def punctured_rank(self, num_punctured: int) -> int:
        """GF(2) rank of H's columns at the first ``num_punctured`` positions of :attr:`order` (cached)."""
        if num_punctured not in self._ranks:
            order = np.arange(self.num_bits) if self.order is None else self.order
            self._ranks[num_punctured] = gf2_rank(self.columns(order[:num_punctured]))
        return self._ranks[num_punctured]

    def layers(self) -> ldpc_kernels.CheckLayers:
        """The checks cut into layers of the layered decoder (:func:`dqsim.backend.ldpc_kernels.check_layers`;
        cached)."""
        if not self._layers:
            self._layers.append(ldpc_kernels.check_layers(self.check_start, self.edge_var, self.num_bits))
        return self._layers[0]

    def num_four_cycles(self) -> int:
        """Pairs of checks that share two or more variables (each such pair closes a 4-cycle)."""
        h = self.columns(np.arange(self.num_bits)).astype(np.int64)
        overlap = h @ h.T
        return int(np.count_nonzero(np.triu(overlap, 1) >= 2))


def gf2_rank(matrix: np.ndarray) -> int:
    """Rank over GF(2) of a 0/1 matrix, by Gaussian elimination on its columns packed 64 to a word.

    Examples:
        >>> gf2_rank(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool))   # third row = sum of the others
        2
    """
    a = np.asarray(matrix, dtype=bool)
    rows, cols = a.shape
    if not rows or not cols:
        return 0
    words = -(-cols // 64)
    packed = np.packbits(np.pad(a, ((0, 0), (0, words * 64 - cols))), axis=1, bitorder="little")
    packed = packed.view(np.uint64).copy()
    free = np.ones(rows, dtype=bool)
    rank = 0
    for j in range(cols):
        has = ((packed[:, j >> 6] >> np.uint64(j & 63)) & np.uint64(1)).astype(bool)
        candidates = np.flatnonzero(has & free)
        if not candidates.size:
            continue
        pivot = candidates[0]
        others = np.flatnonzero(has)
        others = others[others != pivot]
        packed[others] ^= packed[pivot]
        free[pivot] = False
        rank += 1
    return rank


def build_code(num_bits: int, num_checks: int, rng: np.random.Generator, *, variable_degree=3) -> LdpcCode:
    """A parity-check matrix by depth-two progressive edge growth (module docstring).

    The variables are taken in order of increasing degree (Hu et al. 2005);
    variable j joins its degree's distinct checks one at a time: the check of
    lowest degree (ties by a fresh random key per variable) among those that
    share no variable with the checks already chosen for j; where every check
    does, the lowest-degree check not yet chosen (a 4-cycle). Which checks share
    a variable is kept packed, a bit per pair (``m²/8`` bytes while it builds).

    Args:
        num_bits: n, columns, >= 2.
        num_checks: m, rows, >= the largest variable degree, <= n - 1.
        rng: the generator of the random tie-breaks.
        variable_degree: ones per column, >= 2: one for all, or one per column (:func:`degree_profile`).

    Returns:
        The :class:`LdpcCode` (columns in order); check degrees within one of each other where no variable
        met only blocked checks, else within two.

    Examples:
        >>> code = build_code(60, 30, np.random.default_rng(1))
        >>> code.num_four_cycles(), int(np.diff(code.check_start).min()), int(np.diff(code.check_start).max())
        (0, 6, 6)
    """
    where = "build_code"
    n = check_int(where, "num_bits", num_bits, 2)
    degrees = np.broadcast_to(np.asarray(variable_degree, dtype=np.int64), (n,))
    if degrees.min() < 2:
        raise DqsimError(f"{where}: variable_degree must be >= 2, got {int(degrees.min())}")
    m = check_int(where, "num_checks", num_checks, int(degrees.max()), n - 1)
    check_degree = np.zeros(m, dtype=np.float64)
    row_bytes = -(-m // 8)
    neighbours = np.zeros((m, row_bytes), dtype=np.uint8)   # bit c' of row c: checks c and c' share a variable
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degrees, out=offsets[1:])
    chosen = np.empty(int(offsets[-1]), dtype=np.int64)
    for v in np.argsort(degrees, kind="stable"):
        key = check_degree + rng.random(m)       # lowest degree first, random among equals
        blocked = np.zeros(m, dtype=bool)
        taken = np.zeros(m, dtype=bool)
        for d in range(offsets[v], offsets[v + 1]):
            open_key = np.where(blocked | taken, np.inf, key)
            c = int(np.argmin(open_key))
            if not np.isfinite(open_key[c]):      # every check would close a 4-cycle: take one anyway
                c = int(np.argmin(np.where(taken, np.inf, key)))
            chosen[d] = c
            taken[c] = True
            blocked |= np.unpackbits(neighbours[c], count=m).astype(bool)
            check_degree[c] += 1.0
        row = chosen[offsets[v]:offsets[v + 1]]
        bits = np.zeros(row_bytes * 8, dtype=bool)
        bits[row] = True
        neighbours[row] |= np.packbits(bits)
    order = np.argsort(chosen, kind="stable")
    edge_var = np.repeat(np.arange(n, dtype=np.int64), degrees)[order]
    check_start = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(chosen, minlength=m), out=check_start[1:])
    return LdpcCode(n, m, check_start, edge_var)


def degree_profile(num_bits: int, num_checks: int, rate: float) -> np.ndarray:
    """Column degrees of the mother code of ``rate``: the node shares of :data:`DEGREE_TABLE`'s λ.

    A degree i takes ``n·(λ_i/i)/Σ_j(λ_j/j)`` columns (rounded so that they add up to n, largest remainders
    first), degrees above ``num_checks`` become ``num_checks``; the columns come lowest degree first.

    Examples:
        >>> p = degree_profile(1000, 500, 0.5)
        >>> p.size, int(p.min()), int(p.max()), round(float(p.mean()), 2)
        (1000, 2, 66, 5.54)
    """
    lam = DEGREE_TABLE[rate][0]
    degrees = np.array(sorted(lam), dtype=np.int64)
    share = np.array([lam[i] / i for i in degrees])
    exact = num_bits * share / share.sum()
    counts = np.floor(exact).astype(np.int64)
    rest = num_bits - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return np.minimum(np.repeat(degrees, counts), num_checks)


@functools.lru_cache(maxsize=8)
def code_lengths(frame_bits: int = FRAME_BITS) -> tuple[int, ...]:
    """The code lengths, longest first: ``frame_bits`` and below it in steps of √2 down to :data:`MIN_CODE_BITS`
    (kept: :func:`frame_plan` asks for them at each of the tens of thousands of keys a job's codes are predicted
    from).

    Examples:
        >>> code_lengths(4096)
        (4096, 2896, 2048, 1448, 1024, 724, 512, 362, 256)
    """
    lengths = [frame_bits]
    j = 1
    while round(frame_bits * 2.0 ** (-j / 2)) >= MIN_CODE_BITS:
        lengths.append(round(frame_bits * 2.0 ** (-j / 2)))
        j += 1
    return tuple(lengths)


def longest_frame_bits(rate: float) -> int:
    """The longest code length for a target rate R: :data:`FRAME_BITS` where its syndrome ``n·(1 - R)`` is at
    most :data:`MAX_FRAME_CHECKS` (R >= 0.875: the rate-0.9 mother code, at QBER up to about 1 %), else
    :data:`BASE_FRAME_BITS`.

    Measured (``bench/results/qkd-ldpc-fec-vm-20261207.md``, keys of 100,000 bits, blind): at QBER 1 % frames
    of 50,000 key bits in codes of 65,536 disclosed f_EC 1.211 against 1.227 in 16,384 (each frame's hash and
    Bob's flags spread over more key bits, and the longer code decodes nearer its threshold); at 2 % frames of
    25,000 bits in codes of 32,768 took the rate-0.85 mother code (the frame's syndrome fits in its checks),
    which disclosed 1.227 against 1.147 with the rate-0.8 code of 16,384 bits, so only the rate-0.9 code's
    frames are made longer. The rate-0.9 code of 65,536 bits takes 16.4 CPU seconds to build once a process,
    against 2.4 at 16,384 (dev VM, load 8, 2026-12-07).

    Examples:
        >>> [longest_frame_bits(r) for r in (0.95, 0.887, 0.8, 0.7, 0.3)]
        [65536, 65536, 16384, 16384, 16384]
    """
    return FRAME_BITS if FRAME_BITS * (1.0 - rate) <= MAX_FRAME_CHECKS else BASE_FRAME_BITS


#: CPU seconds a mother code's build takes per column, beside :data:`BUILD_SECONDS_PER_EDGE_SLOT`
#: (:func:`build_seconds`): the line through two builds of the rate-0.9 code on the dev VM (2026-12-07, load 8;
#: :func:`longest_frame_bits`), 2.4 CPU s at 16,384 bits and 16.4 at 65,536.
BUILD_SECONDS_PER_BIT = 1.12e-4
#: CPU seconds a mother code's build takes per column and check (the progressive edge growth looks at the checks
#: for each column: time about n·m, :data:`MAX_FRAME_CHECKS`), fitted with :data:`BUILD_SECONDS_PER_BIT`.
BUILD_SECONDS_PER_EDGE_SLOT = 2.1e-8


def build_seconds(num_bits: int, rate: float) -> float:
    """Estimated CPU seconds to build the mother code of ``num_bits`` and ``rate`` (not loading it from the disk
    cache): ``a·n + b·n·m`` (:data:`BUILD_SECONDS_PER_BIT`, :data:`BUILD_SECONDS_PER_EDGE_SLOT`); the rate-0.85 code
    of 65,536 bits comes out at 20.8 s, measured 24.9 at a load of about 18 (:data:`MAX_FRAME_CHECKS`). ``dqsim
    check`` gives it for the codes a job will build.

    Examples:
        >>> round(build_seconds(16384, 0.9), 1), round(build_seconds(65536, 0.9), 1)
        (2.4, 16.4)
    """
    return num_bits * (BUILD_SECONDS_PER_BIT + BUILD_SECONDS_PER_EDGE_SLOT * num_checks_of(num_bits, rate))


def num_checks_of(num_bits: int, rate: float) -> int:
    """m of the mother code of length n and ``rate``: ``round(n·(1 - rate))``."""
    return round(num_bits * (1.0 - rate))


def mother_code(seed: int, num_bits: int, rate: float, puncturing: str = "untainted") -> LdpcCode:
    """The mother code of a run (``seed``) for a length and a rate of :data:`MOTHER_RATES`, built once a process.

    Args:
        seed: the run's seed.
        num_bits: code length, bits, >= 64.
        rate: one of :data:`MOTHER_RATES`.
        puncturing: one of :data:`PUNCTURINGS`: ``"untainted"`` puts the untainted columns first
            (:func:`untainted_first`; since 2026-12-07), ``"degree"`` the columns by degree alone (before).

    Returns:
        :func:`build_code` with :func:`num_checks_of` checks, the columns of :func:`degree_profile` and the
        generator of event ``num_bits · 100 + rate index`` of the stream ``(seed, node 0, PURPOSE_CODE)``, which
        then draws the frame layout (:attr:`LdpcCode.order`), and its :meth:`LdpcCode.layers` (built here, so that
        a block's end does not build them): the columns by increasing degree, in random order
        within a degree, so a frame punctures the lowest-degree columns, shortens the next ones and puts its
        key bits in the highest-degree ones. (Measured, 16,384 bits, 35 frames each, dev VM 2026-12-06: at a
        QBER of 2 % and a target f of 1.3, 1 frame failed against 3 with the columns in random order, and 35
        with the highest degrees punctured first; at 1 % and 1.4, 0 against 1.) Since 2026-12-07 the
        untainted columns of that order come first (``puncturing="untainted"``), the others after them in it;
        the graph and the random draws are the same either way. The graph and the columns by degree come from
        the disk cache where they are there (:func:`code_key`; 0.07-0.4 CPU s against 2-25 to build; untainted
        order and layers are made again from them), else they are built and kept there.
    """
    if rate not in MOTHER_RATES:
        raise DqsimError(f"mother_code: rate must be one of {MOTHER_RATES}, got {rate}")
    if puncturing not in PUNCTURINGS:
        raise DqsimError(f"mother_code: puncturing must be one of {PUNCTURINGS}, got {puncturing!r}")
    return _mother_code(int(seed), check_int("mother_code", "num_bits", num_bits, 64), rate, puncturing)


@functools.lru_cache(maxsize=32)
def _mother_code(seed: int, num_bits: int, rate: float, puncturing: str) -> LdpcCode:
    """:func:`mother_code` once its arguments are checked (one cache entry a code, however it is called)."""
    code, order = _mother_graph(seed, num_bits, rate)
    if puncturing == "untainted":
        order = untainted_first(code, order)
    code = LdpcCode(code.num_bits, code.num_checks, code.check_start, code.edge_var, order)
    code.layers()          # built with the code, once a process (the layered decoder's order of the checks)
    return code


def code_key(seed: int, num_bits: int, rate: float) -> dict:
    """Everything that determines :func:`mother_code`'s graph and column order: the key of its entry in the disk
    cache (:func:`dqsim.caches.stored_arrays`).

    The seed, the length, the rate, the checks, the degree distribution (:data:`DEGREE_TABLE`'s row), the stream's
    purpose and event (:func:`_code_event`, which moves with the rate's place in :data:`MOTHER_RATES`), and NumPy's
    major and minor version (the generator's ``random`` and ``permutation`` streams are not promised to stay the
    same across NumPy versions). The code of :func:`build_code` and :func:`degree_profile` is not in it: its
    version :data:`CODE_CONSTRUCTION` is, raised by hand with any change to a built code
    (tests/test_ldpc_code_cache.py pins a built code's SHA-256 to the version, and fails until it is raised).

    Examples:
        >>> key = code_key(1, 16384, 0.8)
        >>> key["num_checks"], key["construction"], key["event"], sorted(key)[:3]
        (3277, 1, 1638406, ['construction', 'degrees', 'event'])
    """
    lam, rho = DEGREE_TABLE[rate]
    return {"construction": CODE_CONSTRUCTION, "seed": int(seed), "num_bits": int(num_bits), "rate": float(rate),
            "num_checks": num_checks_of(num_bits, rate), "purpose": PURPOSE_CODE,
            "event": _code_event(num_bits, rate), "degrees": [sorted(lam.items()), sorted(rho.items())],
            "numpy": ".".join(np.__version__.split(".")[:2])}


def _code_event(num_bits: int, rate: float) -> int:
    """The event of the stream that builds the code of a length and a rate: ``num_bits * 100`` plus the rate's
    place in :data:`MOTHER_RATES` (a row added to :data:`DEGREE_TABLE` below a rate moves that rate's event)."""
    return int(num_bits) * 100 + MOTHER_RATES.index(rate)


def _build_graph(seed: int, num_bits: int, rate: float) -> dict:
    """Build :func:`mother_code`'s graph and its columns by degree (random within a degree), as arrays."""
    num_checks = num_checks_of(num_bits, rate)
    rng = Stream(seed, purpose=PURPOSE_CODE).generator(_code_event(num_bits, rate))
    degrees = degree_profile(num_bits, num_checks, rate)
    code = build_code(num_bits, num_checks, rng, variable_degree=degrees)
    shuffled = rng.permutation(num_bits)
    return {"check_start": code.check_start, "edge_var": code.edge_var,
            "order": shuffled[np.argsort(degrees[shuffled], kind="stable")]}


@functools.lru_cache(maxsize=32)
def _mother_graph(seed: int, num_bits: int, rate: float) -> tuple[LdpcCode, np.ndarray]:
    """The graph of :func:`mother_code` and its columns by degree (random within a degree): once a process for
    both layouts, from the disk cache where it is there (:data:`CODE_CACHE_KIND`), else built and kept there."""
    arrays = stored_arrays(CODE_CACHE_KIND, code_key(seed, num_bits, rate),
                           lambda: _build_graph(seed, num_bits, rate))
    code = LdpcCode(num_bits, num_checks_of(num_bits, rate), arrays["check_start"].astype(np.int64, copy=False),
                    arrays["edge_var"].astype(np.int64, copy=False))
    return code, arrays["order"].astype(np.int64, copy=False)


def _clear_codes() -> None:
    """Forget the codes built (both caches)."""
    _mother_code.cache_clear()
    _mother_graph.cache_clear()


mother_code.cache_clear = _clear_codes


def untainted_first(code: LdpcCode, order: np.ndarray) -> np.ndarray:
    """The columns of ``order`` with the untainted ones first, in the order they are chosen (the frames
    puncture from the front).

    Untainted puncturing (D. Elkouss, J. Martinez-Mateo, V. Martin, "Untainted puncturing for irregular
    low-density parity-check codes", IEEE Wireless Commun. Lett. 1, 585 (2012)): a column is untainted while
    none of its checks is next to a column already chosen; of those, the one with the fewest columns within two
    steps (``1 + Σ_c (d_c - 1)`` over its checks) is chosen next, ties by their place in ``order``; each check
    then has at most one punctured column, so each punctured value can be recovered from one check in the
    first iteration. When none is left untainted, the other columns follow in ``order``.

    Examples:
        >>> code = build_code(60, 30, np.random.default_rng(1))
        >>> first = untainted_first(code, np.arange(60))
        >>> sorted(first.tolist()) == list(range(60))
        True
    """
    n = code.num_bits
    degree = np.diff(code.check_start)
    edge_check = code.edge_check()
    by_column = np.argsort(code.edge_var, kind="stable")
    column_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(code.edge_var, minlength=n), out=column_start[1:])
    checks_of = edge_check[by_column]
    near = np.add.reduceat(degree[checks_of] - 1, column_start[:-1]) + 1
    candidates = order[np.argsort(near[order], kind="stable")]
    touched = np.zeros(code.num_checks, dtype=bool)      # a check next to a chosen column
    chosen = []
    starts = column_start.tolist()
    for v in candidates.tolist():
        mine = checks_of[starts[v]:starts[v + 1]]
        if not touched[mine].any():
            chosen.append(v)
            touched[mine] = True
    picked = np.zeros(n, dtype=bool)
    picked[chosen] = True
    return np.concatenate([np.asarray(chosen, dtype=np.int64), order[~picked[order]]])


def target_rate(qber: float, efficiency: float) -> float:
    """Code rate ``R = 1 - f·h(E)`` that leaks f times the Slepian-Wolf bound (Elkouss et al. 2009, eq. 2).

    Args:
        qber: the QBER estimate E, in [0, 0.5] (or an array of them).
        efficiency: f, >= 1 (or an array, broadcast).

    Returns:
        R, clipped to [0, 1] (an array for arrays).

    Examples:
        >>> round(target_rate(0.05, 1.2), 4), target_rate(np.array([0.05, 0.5]), 1.2).round(4).tolist()
        (0.6563, [0.6563, 0.0])
    """
    if np.ndim(qber) or np.ndim(efficiency):          # arrays (:func:`block_codes`): elementwise
        return np.clip(1.0 - efficiency * binary_entropies(qber), 0.0, 1.0)
    return min(1.0, max(0.0, 1.0 - efficiency * binary_entropy(qber)))


@dataclass(frozen=True)
class FramePlan:
    """How a key is cut into frames (:func:`frame_plan`).

    Attributes:
        code_bits: n, the code length, bits.
        mother_rate: R_0, the mother code's rate.
        num_checks: m, its checks (syndrome bits a frame).
        num_punctured: p, punctured positions a frame (Alice's random bits).
        sizes: key bits of each frame (they differ by at most one).
    """

    code_bits: int
    mother_rate: float
    num_checks: int
    num_punctured: int
    sizes: list


def frame_plan(num_key_bits: int, rate: float, *, frame_bits: int | None = None, start_rate: float | None = None
               ) -> FramePlan:
    """How a key of N bits is reconciled at rate R: the code, the punctured positions and the frames.

    ``frame_bits`` is the longest code length (``None``: :func:`longest_frame_bits` of R). The frames hold
    at most ``k_max = ⌊(1 - δ)·frame_bits⌋`` key bits (δ = :data:`MODULATED_SHARE`; fewer
    where even the rate-0.5 code's syndrome could not carry ``(1 - R)·k_max`` bits), so the key is cut into
    ``F = ⌈N/k_max⌉`` frames of equal size (within one bit), k at most; the code is the shortest of
    :func:`code_lengths` whose ``(1 - δ)·n`` holds k. A frame must disclose ``L = ⌈(1 - R)·k⌉`` bits:
    the mother code is the one of the highest rate whose ``m >= L`` (the least puncturing), punctured
    ``p = min(m - L, MAX_PUNCTURED_SHARE·n, n - k)`` times; where no code has ``m >= L`` (R below what
    δ allows at rate 0.5) the rate-0.5 code is used unpunctured. Given a ``start_rate`` (blind since
    2026-12-07, morning; :data:`FRAME_CODES`), the code is instead the lowest-rate one of those whose first
    syndrome at that rate, ``m - ⌈(1 - R_s)·k⌉`` punctured positions, is within ``min(MAX_PUNCTURED_SHARE·n, n - k)``
    (the highest-rate one where none is): a frame then starts punctured more and shortened less, and its
    reveals turn punctured positions into shortened ones. Measured (scratch runs, 2026-12-07 morning, blind,
    QBER 1 %, 12 frames each, f before hash and flags): frames of 50,000 key bits in codes of 65,536 decoded at f
    1.203 ± 0.008 with the rate-0.9 code (the highest rate that fits) and 1.178 ± 0.006 with the rate-0.85 one
    (the lowest whose start fits), the same keys; the rate-0.9 code's frames shorten all its degree-2 columns
    and many of degree 3.

    Args:
        num_key_bits: N, >= 0.
        rate: R, the target rate.
        frame_bits: longest code length, bits (``None``: :func:`longest_frame_bits` of R).
        start_rate: blind: R_s, the rate of the frames' first syndrome (:func:`blind_schedule`); ``None``: the
            mother code of the least puncturing.

    Examples:
        >>> plan = frame_plan(100_000, 0.9, frame_bits=16384)
        >>> plan.code_bits, plan.mother_rate, plan.num_checks, plan.num_punctured, len(plan.sizes), max(plan.sizes)
        (16384, 0.9, 1638, 209, 7, 14286)
        >>> frame_plan(1000, 0.7).code_bits
        1448
        >>> [frame_plan(100_000, target_rate(0.01, 1.4), start_rate=r).mother_rate for r in (None, 0.911)]
        [0.9, 0.85]
    """
    num_key_bits = check_int("frame_plan", "num_key_bits", num_key_bits, 0)
    codes = frame_codes(np.asarray(num_key_bits), np.asarray(rate), frame_bits=frame_bits,
                        start_rate=None if start_rate is None else np.asarray(start_rate))
    num_frames, n, r0 = int(codes.num_frames), int(codes.code_bits), MOTHER_RATES[int(codes.rate_index)]
    base, extra = divmod(num_key_bits, num_frames) if num_frames else (0, 0)
    sizes = [base + (i < extra) for i in range(num_frames)]
    k = base + (extra > 0)
    m = num_checks_of(n, r0)
    needed = math.ceil((1.0 - rate) * k)
    punctured = max(0, min(m - needed, math.floor(MAX_PUNCTURED_SHARE * n), n - k))
    return FramePlan(n, r0, m, punctured, sizes)


class FrameCodes(NamedTuple):
    """:func:`frame_codes`' arrays, one entry a key.

    Attributes:
        num_frames: F, the frames the key is cut into (0 for an empty key).
        code_bits: n, the code length, bits.
        rate_index: the mother code's rate, its index in :data:`MOTHER_RATES`.
    """

    num_frames: np.ndarray
    code_bits: np.ndarray
    rate_index: np.ndarray


def frame_codes(num_key_bits: np.ndarray, rate: np.ndarray, *, frame_bits: int | None = None,
                start_rate: np.ndarray | None = None) -> FrameCodes:
    """:func:`frame_plan`'s frames and mother code (its docstring says how they are chosen) for arrays of keys at
    once: what :func:`frame_plan` itself takes them from, and what :func:`block_codes` predicts a run's codes with
    (tens of millions of keys a job; elementwise NumPy, no Python loop over the keys).

    Args:
        num_key_bits: N of each key, integers >= 0.
        rate: R of each key (broadcast with ``num_key_bits``), in [0, 1].
        frame_bits: longest code length, bits (``None``: :func:`longest_frame_bits` of each R).
        start_rate: blind: R_s of each key (broadcast), ``None``: the mother code of the least puncturing.

    Returns:
        :class:`FrameCodes` of the broadcast shape.

    Examples:
        >>> codes = frame_codes(np.array([0, 1000, 100_000]), np.array([0.7, 0.7, 0.9]), frame_bits=16384)
        >>> codes.num_frames.tolist(), codes.code_bits.tolist(), [MOTHER_RATES[i] for i in codes.rate_index]
        ([0, 1, 7], [256, 1448, 16384], [0.9, 0.75, 0.9])
    """
    num, rate = np.broadcast_arrays(np.asarray(num_key_bits, dtype=np.int64), np.asarray(rate, dtype=float))
    if frame_bits is None:
        frame_bits = np.where(FRAME_BITS * (1.0 - rate) <= MAX_FRAME_CHECKS, FRAME_BITS, BASE_FRAME_BITS)
    longest = np.broadcast_to(np.asarray(frame_bits, dtype=np.int64), num.shape)
    capacity = np.maximum(1, np.floor((1.0 - MODULATED_SHARE) * longest)).astype(np.int64)
    below_one = rate < 1.0
    room_at_lowest = np.floor(np.round(longest * (1.0 - MOTHER_RATES[0])) / np.where(below_one, 1.0 - rate, 1.0))
    capacity = np.where(below_one, np.maximum(1, np.minimum(capacity, room_at_lowest)), capacity).astype(np.int64)
    num_frames = -(-num // capacity)
    k = num // np.maximum(num_frames, 1) + (num % np.maximum(num_frames, 1) > 0)
    n = np.empty_like(longest)
    checks = np.empty(num.shape + (len(MOTHER_RATES),))             # m of each mother rate, at the key's n
    tops = np.unique(longest).tolist()
    for top in tops:                               # the shortest length of the key's ladder that holds k
        ladder = np.array(code_lengths(top)[::-1], dtype=np.int64)
        at = ... if len(tops) == 1 else longest == top
        place = np.minimum(np.searchsorted(np.floor((1.0 - MODULATED_SHARE) * ladder), k[at], side="left"),
                           ladder.size - 1)                        # (past the end: the longest, ``top``)
        n[at] = ladder[place]
        checks[at] = np.round(ladder[:, None] * (1.0 - np.asarray(MOTHER_RATES)))[place]
    # m falls as the rate rises: the codes whose syndrome holds the key's are the first ``fitting`` rates
    fitting = np.count_nonzero(checks >= np.ceil((1.0 - rate) * k)[..., None], axis=-1)
    highest = np.maximum(fitting - 1, 0)
    if start_rate is not None:       # blind: the lowest rate whose first syndrome needs no more than p may be
        room = np.minimum(np.floor(MAX_PUNCTURED_SHARE * n), n - k)
        first = np.ceil((1.0 - np.asarray(start_rate, dtype=float)) * k)
        lowest = np.count_nonzero(checks > (room + first)[..., None], axis=-1)
        highest = np.where(lowest < fitting, lowest, highest)
    return FrameCodes(num_frames, n, highest)


@dataclass(frozen=True)
class LdpcResult:
    """What LDPC reconciliation did to one block.

    Attributes:
        corrected: Bob's key after decoding, the bits of the frames that decoded (uint8).
        kept: bool mask over the block's key bits: the frames that decoded (both sides keep these).
        leakage_bits: information disclosed, every frame, bits (``m - rank(H_P)`` a frame for the syndrome,
            :data:`FRAME_CHECK_BITS` for its hash and :data:`ACK_BITS` for Bob's acknowledgement flag, since
            2026-12-07; blind, also the revealed values and ``request_bits``).
        discarded_bits: key bits of the frames that failed (dropped; charged as disclosed by the key length).
        rounds: round trips beyond the key message: 0 one-way (Bob's failed-frame flags ride on his
            acknowledgement); blind, the most reveal steps of any frame (the frames' requests travel together).
        message_bits: syndromes, frame hashes and one flag bit a frame, bits; blind, also a request flag a
            frame and step, and the revealed bits.
        num_frames: frames decoded.
        frame_errors: frames whose decoder found no word of the syndrome, or a word whose hash differs.
        code_rate: effective rate of the frames, ``1 - leakage_bits / N``.
        mother_rate: rate of the mother code.
        code_bits: length of the mother code, bits.
        iterations: decoder iterations, summed over the frames.
        punctured_bits: punctured positions a frame (blind: at the first syndrome).
        revealed_bits: blind: punctured values Alice revealed, summed over the frames (each charged as a
            disclosed bit, in ``leakage_bits``); 0 one-way.
        request_bits: blind: Bob's request flags, one a frame and step (they travel in the round trips' first
            messages, the revealed values in their answers); charged as leakage since 2026-12-07 (module
            docstring, "Bob's request flags"); 0 one-way.
    """

    corrected: np.ndarray
    kept: np.ndarray
    leakage_bits: int
    discarded_bits: int
    rounds: int
    message_bits: int
    num_frames: int
    frame_errors: int
    code_rate: float
    mother_rate: float
    code_bits: int
    iterations: int
    punctured_bits: int = 0
    revealed_bits: int = 0
    request_bits: int = 0


def blind_schedule(plan: FramePlan, start_rate: float, qber: float, steps: tuple[float, int] | None = None
                   ) -> tuple[int, int]:
    """Blind reconciliation's first punctured count and its reveal step (module docstring, "Blind").

    The first syndrome is that of rate ``start_rate`` for the largest frame k: ``p_0 = m - ⌈(1 - R)·k⌉``
    punctured positions, within the plan's limits (at most :data:`MAX_PUNCTURED_SHARE`·n and ``n - k``, at
    least the plan's own ``p``); each failed attempt reveals ``Δ = ⌈s·h(E)·k⌉`` more of them (the frame's f
    rises by s = :data:`BLIND_STEP_EFFICIENCY`), until none is left (the mother code); Δ is at least
    ``p_0/S`` (S = :data:`BLIND_MAX_STEPS`), so a frame takes at most S round trips even where the estimate is
    near 0 (a sample without an error).

    Args:
        plan: the frame plan of the rate-adaptive choice (its mother code and frames).
        start_rate: R of the first syndrome, in [0, 1].
        qber: the QBER h(E) of the steps is taken at, in (0, 0.5].
        steps: ``(s, S)`` in place of the module's (the benches and tests set the schedule of before
            2026-12-07, ``(0.03, 20)``, this way); ``None``: the module's.

    Returns:
        ``(p_0, Δ)``, ``Δ >= 1``.

    Examples:
        >>> blind_schedule(frame_plan(100_000, target_rate(0.01, 1.4)), target_rate(0.01, 1.1), 0.01)
        (2110, 41)
    """
    k = max(plan.sizes) if plan.sizes else 0
    n, m = plan.code_bits, plan.num_checks
    first = m - math.ceil((1.0 - start_rate) * k)
    first = max(plan.num_punctured, min(first, math.floor(MAX_PUNCTURED_SHARE * n), n - k))
    share, most = (BLIND_STEP_EFFICIENCY, BLIND_MAX_STEPS) if steps is None else steps
    return first, max(1, math.ceil(share * binary_entropy(qber) * k), -(-first // most))


def reconcile(alice: np.ndarray, bob: np.ndarray, qber_estimate: float, *, seed: int, efficiency: float,
              mode: str = "rate_adaptive", start_qber: float | None = None, frame_bits: int | None = None,
              use_kernel: bool | None = None, rng: np.random.Generator | None = None, restart: str = "warm",
              stall_iterations: int = BLIND_STALL_ITERATIONS, schedule: str = "layered",
              steps: tuple[float, int] | None = None, puncturing: str = "untainted",
              frame_code: str = "start") -> LdpcResult:
    """Correct Bob's key towards Alice's by syndrome decoding, one-way or blind (module docstring).

    Args:
        alice, bob: the key bits (uint8 0/1), one length.
        qber_estimate: the QBER the rate is chosen for (and the channel LLR), in (0, 0.5].
        seed: the run's seed (the codes, :func:`mother_code`).
        efficiency: target f of the rate choice (:func:`target_rate`), >= 1; in blind mode the rate of the
            mother code and frames (what a frame discloses at most before it is dropped is at least this).
        mode: ``"rate_adaptive"`` (one syndrome a frame) or ``"blind"`` (:data:`LDPC_MODES`).
        start_qber: blind mode: the QBER the first syndrome is chosen for, at :data:`BLIND_START_EFFICIENCY`,
            in (0, 0.5] (``None``: ``qber_estimate``).
        frame_bits: longest code length, bits, >= :data:`MIN_CODE_BITS` (``None``: :func:`longest_frame_bits` of the
            rate).
        use_kernel: decode with the compiled loop (``True``), in NumPy (``False``), or the compiled loop
            where numba is (``None``); the same result either way.
        rng: the block's generator: one 63-bit draw seeds the frames' hashes, then Alice's punctured bits
            (only where the plan punctures, all frames at once); ``None``: the stream
            ``(seed, PURPOSE_PUNCTURED)``, event 0.
        restart: blind mode: how a frame decodes again after a reveal, one of :data:`BLIND_RESTARTS` (module
            docstring, "Blind"); nothing disclosed depends on it except through which attempt decodes.
        stall_iterations: blind mode: an attempt before the last gives up after this many iterations without
            fewer unsatisfied checks (0: never; :data:`BLIND_STALL_ITERATIONS`), >= 0.
        schedule: the decoder's schedule, one of :data:`SCHEDULES`.
        steps: blind mode: the reveal step's share of f and the most steps, ``(s, S)`` of :func:`blind_schedule`
            (``None``: :data:`BLIND_STEP_EFFICIENCY`, :data:`BLIND_MAX_STEPS`).
        puncturing: the frame layout, one of :data:`PUNCTURINGS` (:func:`mother_code`).
        frame_code: blind mode: how the mother code is chosen, one of :data:`FRAME_CODES` (:func:`frame_plan`).

    Returns:
        The :class:`LdpcResult` (a key of n bits: ``corrected`` holds the ``kept`` ones).

    Raises:
        DqsimError: Alice's and Bob's keys differ in shape, or an argument is outside its range.

    Examples:
        >>> a = np.random.default_rng(1).integers(0, 2, 3000, dtype=np.uint8)
        >>> b = a.copy(); b[::40] ^= 1                                  # a QBER of 2.5 %
        >>> r = reconcile(a, b, 0.025, seed=5, efficiency=1.5)
        >>> r.frame_errors, bool((r.corrected == a[r.kept]).all()), r.rounds
        (0, True, 0)
        >>> r = reconcile(a, b, 0.025, seed=5, efficiency=1.5, mode="blind")
        >>> r.frame_errors, bool((r.corrected == a[r.kept]).all()), r.rounds, r.revealed_bits
        (0, True, 7, 42)
    """
    where = "ldpc.reconcile"
    alice = np.asarray(alice, dtype=np.uint8)
    bob = np.asarray(bob, dtype=np.uint8)
    if alice.shape != bob.shape or alice.ndim != 1:
        raise DqsimError(f"{where}: alice and bob must be 1-d keys of one length, got {alice.shape}, {bob.shape}")
    qber = check_real(where, "qber_estimate", qber_estimate, 0.0, 0.5, low_open=True)
    efficiency = check_real(where, "efficiency", efficiency, 1.0)
    if frame_bits is not None:
        frame_bits = check_int(where, "frame_bits", frame_bits, MIN_CODE_BITS)
    if mode not in LDPC_MODES:
        raise DqsimError(f"{where}: mode must be one of {LDPC_MODES}, got {mode!r}")
    blind = mode == "blind"
    start_qber = qber if start_qber is None else check_real(where, "start_qber", start_qber, 0.0, 0.5,
                                                            low_open=True)
    if restart not in BLIND_RESTARTS:
        raise DqsimError(f"{where}: restart must be one of {BLIND_RESTARTS}, got {restart!r}")
    stall_iterations = _checked_stall(where, stall_iterations)
    if schedule not in SCHEDULES:
        raise DqsimError(f"{where}: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if use_kernel and not ldpc_kernels.has_sum_product():
        raise DqsimError(f"{where}: use_kernel=True needs numba (DQSIM_FAST_KERNELS not 0)")
    num = alice.size
    if frame_code not in FRAME_CODES:
        raise DqsimError(f"{where}: frame_code must be one of {FRAME_CODES}, got {frame_code!r}")
    rate, start_rate, plan = _rates_and_plan(num, qber, efficiency, start_qber, blind and frame_code == "start",
                                             frame_bits)
    n, p = plan.code_bits, plan.num_punctured
    step = p
    if blind and plan.sizes:
        p, step = blind_schedule(plan, start_rate, start_qber, steps)
    if not plan.sizes:
        return LdpcResult(bob.copy(), np.ones(0, dtype=bool), 0, 0, 0, 0, 0, 0, rate, plan.mother_rate, n, 0, p)
    code = mother_code(int(seed), n, plan.mother_rate, puncturing)  # (which checks puncturing)
    layers = code.layers() if schedule == "layered" else None
    decode = (ldpc_kernels.sum_product_decode if use_kernel is None or use_kernel
              else ldpc_kernels.sum_product_decode_numpy)
    llr = math.log((1.0 - qber) / qber)
    draw = rng if rng is not None else Stream(int(seed), purpose=PURPOSE_PUNCTURED).generator(0)
    hashes = np.random.default_rng(int(draw.integers(0, 2**63 - 1)))
    if p:
        alice_punctured = draw.integers(0, 2, (len(plan.sizes), p), dtype=np.uint8)
    punctured = code.order[:p]
    kept = np.ones(num, dtype=bool)
    corrected = bob.copy()
    frame_errors = iterations = revealed_bits = rounds = nacks = 0
    offset = 0
    for index, size in enumerate(plan.sizes):
        # punctured positions: Alice's random bits, unknown to Bob (LLR 0); shortened: zeros both know
        places = code.order[n - size:]
        x_a = np.zeros(n, dtype=np.uint8)
        x_b = np.zeros(n, dtype=np.uint8)
        x_a[places] = alice[offset:offset + size]
        x_b[places] = bob[offset:offset + size]
        channel = np.full(n, SHORTENED_LLR)
        channel[places] = llr
        if p:
            x_a[punctured] = alice_punctured[index]
            channel[punctured] = 0.0
        alice_syndrome = code.syndrome(x_a)
        hidden, hash_seed, steps = p, None, 0      # punctured positions still hidden from Bob: order[:hidden]
        target = alice_syndrome ^ code.syndrome(x_b)
        messages = np.zeros(code.edge_var.size)
        while True:
            if restart == "cold":
                messages[:] = 0.0
            stall = stall_iterations if blind and hidden else 0
            error, used, converged = decode(code.check_start, code.edge_var, target, channel, MAX_ITERATIONS,
                                            messages, stall, layers)
            iterations += used
            if converged:
                # the frame's hash compares Bob's decoded bits with Alice's: by linearity, the hash of their
                # difference (drawn only where one is left, once a frame; T·0 = 0 for every seed)
                wrong = np.flatnonzero(bob[offset:offset + size] ^ error[places] ^ alice[offset:offset + size])
                if wrong.size:
                    if hash_seed is None:
                        hash_seed = hashes.integers(0, 2, size + FRAME_CHECK_BITS - 1, dtype=np.uint8)
                    converged = not toeplitz_hash_of_positions(wrong, size, hash_seed, FRAME_CHECK_BITS).any()
            if converged or not blind or not hidden:
                break
            # blind: Bob asks (one flag), Alice reveals the last Δ still-punctured values: they become shortened,
            # their errors e_v = x_A,v XOR x_B,v known (Bob's punctured bits are 0: e_v = x_A,v), so the target
            # syndrome stays and their LLRs become ±SHORTENED_LLR (the same decoding as Bob setting x_B,v = x_A,v
            # and the target's checks flipping: sum-product's messages only change sign)
            shown = code.order[max(0, hidden - step):hidden]
            channel[shown] = np.where(x_a[shown] == x_b[shown], SHORTENED_LLR, -SHORTENED_LLR)
            revealed_bits += shown.size
            hidden -= shown.size
            steps += 1
        nacks += steps
        rounds = max(rounds, steps)
        if converged:
            corrected[offset:offset + size] ^= error[places]
        else:
            frame_errors += 1
            kept[offset:offset + size] = False
        offset += size
    num_frames = len(plan.sizes)
    # Bob's request flags (nacks, a frame and step) and his acknowledgement's flag a frame are public and charged
    # (module docstring, "Bob's flags")
    leak = num_frames * (code.num_checks - code.punctured_rank(p) + FRAME_CHECK_BITS + ACK_BITS) + revealed_bits + nacks
    discarded = int(num - np.count_nonzero(kept))
    message = num_frames * (code.num_checks + FRAME_CHECK_BITS + 1) + nacks + revealed_bits
    return LdpcResult(corrected[kept], kept, leak, discarded, rounds, message, num_frames,
                      frame_errors, 1.0 - leak / num, plan.mother_rate, n, iterations, p, revealed_bits, nacks)


def _rates_and_plan(num: int, qber: float, efficiency: float, start_qber: float, from_start: bool,
                    frame_bits: int | None) -> tuple[float, float, FramePlan]:
    """:func:`reconcile`'s target rate, first syndrome's rate and :func:`frame_plan` of a key of ``num`` bits
    (``from_start``: blind frames' mother code from the first syndrome, ``frame_code="start"``)."""
    rate = target_rate(qber, efficiency)
    start_rate = target_rate(start_qber, BLIND_START_EFFICIENCY)
    return rate, start_rate, frame_plan(num, rate, frame_bits=frame_bits, start_rate=start_rate if from_start
                                        else None)


def _checked_stall(where: str, stall) -> ldpc_kernels.StallRule:
    """:func:`reconcile`'s ``stall_iterations`` (an int or a :class:`~dqsim.backend.ldpc_kernels.StallRule`) as a
    rule, each of its numbers checked (>= 0)."""
    rule = ldpc_kernels.StallRule(stall) if np.isscalar(stall) else ldpc_kernels.StallRule(*stall)
    return ldpc_kernels.StallRule(*(check_int(where, f"stall_iterations.{name}", value, 0)
                                    for name, value in zip(rule._fields, rule)))


def design_qber(qber_estimate: float, num_key_bits: int, sample_fraction: float) -> float:
    """The QBER the rate is chosen for: the estimate plus :data:`QBER_MARGIN_SIGMAS` of its standard error.

    The estimate comes from about ``m = N·f_s/(1 - f_s)`` disclosed bits for N kept key bits and a sample
    fraction f_s, so its standard error is ``sqrt(E(1 - E)/m)``; a code chosen for the estimate alone would
    fail on every frame of a block whose true QBER is above it (one block in two).

    Arrays of estimates and key bits (broadcast) give an array (:func:`block_codes`).

    Examples:
        >>> round(design_qber(0.01, 27_000, 0.1), 5), design_qber(np.array([0.01, 0.01]), np.array([27_000, 0]),
        ...                                                        0.1).round(5).tolist()
        (0.01363, [0.01363, 0.01])
    """
    if np.ndim(qber_estimate) or np.ndim(num_key_bits):
        if not 0.0 < sample_fraction < 1.0:
            return np.broadcast_arrays(np.asarray(qber_estimate, dtype=float), num_key_bits)[0].copy()
        sampled = np.maximum(num_key_bits, 1) * sample_fraction / (1.0 - sample_fraction)
        margin = QBER_MARGIN_SIGMAS * np.sqrt(qber_estimate * (1.0 - qber_estimate) / sampled)
        return np.where(np.asarray(num_key_bits) > 0, np.minimum(0.5, qber_estimate + margin), qber_estimate)
    if not 0.0 < sample_fraction < 1.0 or num_key_bits <= 0:
        return qber_estimate
    sampled = num_key_bits * sample_fraction / (1.0 - sample_fraction)
    return min(0.5, qber_estimate + QBER_MARGIN_SIGMAS * math.sqrt(qber_estimate * (1.0 - qber_estimate) / sampled))


def least_efficiency(qber: float) -> float:
    """The lowest target f at which these codes decode nearly every frame at a QBER (:data:`LEAST_EFFICIENCY`).

    Linear in ln(E) between the measured points, their end values outside them.

    Examples:
        >>> [round(least_efficiency(e), 3) for e in (0.005, 0.01, 0.014, 0.04, 0.2)]
        [1.4, 1.4, 1.351, 1.2, 1.15]
        >>> least_efficiency(np.array([0.02, 0.08])).tolist()          # an array of QBERs: elementwise
        [1.3, 1.15]
    """
    points = np.log([each for each, _ in LEAST_EFFICIENCY])
    values = [f for _, f in LEAST_EFFICIENCY]
    if np.ndim(qber):
        return np.interp(np.log(np.maximum(qber, 1e-12)), points, values)
    return float(np.interp(math.log(max(qber, 1e-12)), points, values))


def reconciler(seed: int, efficiency: float, *, sample_fraction: float = 0.0, frame_bits: int | None = None,
               mode: str = "rate_adaptive"):
    """The ``reconcile`` argument of :func:`dqsim.protocols.qkd.reconciliation.postprocess_key` for LDPC.

    The rate is chosen for :func:`design_qber` at the larger of ``efficiency`` and :func:`least_efficiency`
    (a target below what the codes can do fails frames, whose bits cost more than the syndrome saves); blind,
    that rate fixes the frames and, with the first syndrome, the mother code (:func:`frame_plan`), and the first
    syndrome is that of the estimate itself at :data:`BLIND_START_EFFICIENCY` (no margin: a frame that needs more
    asks for it).

    Args:
        seed: the run's seed (its codes).
        efficiency: target efficiency f of the rate choice, >= 1.
        sample_fraction: fraction of the sifted bits the QBER estimate disclosed, in [0, 1) (0: no margin;
            :func:`design_qber`).
        frame_bits: longest code length, bits (``None``: :func:`longest_frame_bits` of the rate).
        mode: one of :data:`LDPC_MODES`.

    Returns:
        A function ``(alice, bob, qber_estimate, rng) -> LdpcResult``; ``rng`` (the block's generator) draws
        Alice's punctured bits, where the block's plan punctures.
    """
    def run(alice, bob, qber_estimate, rng):
        if _CHOICES:
            return _chosen_only(alice, qber_estimate, efficiency, sample_fraction, frame_bits, mode)
        qber, target, estimate = _block_settings(int(np.size(alice)), qber_estimate, efficiency, sample_fraction)
        return reconcile(alice, bob, qber, seed=seed, efficiency=target, mode=mode, start_qber=estimate,
                         frame_bits=frame_bits, rng=rng)
    return run


#: The lists :func:`recorded_choices` is filling (innermost last); empty: :func:`reconciler` reconciles.
_CHOICES: list[list] = []


@contextlib.contextmanager
def recorded_choices():
    """Within it, :func:`reconciler`'s run decodes nothing: it appends ``(code length, mother rate)`` of each block's
    code (:func:`block_code`, what it would take; nothing for an empty key) to the list it yields and returns a
    block whose frames all decoded to Alice's key with nothing disclosed. What ``dqsim warmup`` draws a job's codes
    with (:func:`dqsim.scenarios.qkd_codes.drawn_codes`): the blocks, samples and estimates are the run's, the
    rest of the post-processing is not.

    Examples:
        >>> with recorded_choices() as chosen:
        ...     done = reconciler(1, 1.16, sample_fraction=0.1, mode="blind")(np.zeros(3000, np.uint8), None, 0.02,
        ...                                                                    None)
        >>> chosen, done.leakage_bits, bool(done.kept.all())
        ([(4096, 0.8)], 0, True)
    """
    chosen: list = []
    _CHOICES.append(chosen)
    try:
        yield chosen
    finally:
        _CHOICES.remove(chosen)


def _chosen_only(alice, qber_estimate, efficiency, sample_fraction, frame_bits, mode) -> LdpcResult:
    """:func:`recorded_choices`' stand-in for a block's reconciliation: its code recorded, Alice's key returned."""
    num = int(np.size(alice))
    code = block_code(num, qber_estimate, efficiency, sample_fraction=sample_fraction, frame_bits=frame_bits,
                      mode=mode)
    if code is not None:
        _CHOICES[-1].append(code)
    bits, rate = code if code is not None else (0, 0.0)
    return LdpcResult(corrected=np.asarray(alice, dtype=np.uint8).copy(), kept=np.ones(num, dtype=bool),
                      leakage_bits=0, discarded_bits=0, rounds=0, message_bits=0, num_frames=0, frame_errors=0,
                      code_rate=1.0, mother_rate=rate, code_bits=bits, iterations=0)


def _block_settings(num_key_bits: int, qber_estimate: float, efficiency: float, sample_fraction: float
                    ) -> tuple[float, float, float]:
    """:func:`reconciler`'s ``(design QBER, target f, first syndrome's QBER)`` for a block of ``num_key_bits``
    key bits and its QBER estimate (the estimate at least 10^-6: a sample without an error); arrays of key bits and
    estimates give arrays (:func:`block_codes`)."""
    estimate = np.maximum(qber_estimate, 1e-6) if np.ndim(qber_estimate) else max(qber_estimate, 1e-6)
    qber = design_qber(estimate, num_key_bits, sample_fraction)
    least = least_efficiency(qber)
    return qber, (np.maximum(efficiency, least) if np.ndim(least) else max(efficiency, least)), estimate


def block_code(num_key_bits: int, qber_estimate: float, efficiency: float, *, sample_fraction: float = 0.0,
               frame_bits: int | None = None, mode: str = "rate_adaptive") -> tuple[int, float] | None:
    """``(code length, mother rate)`` of the mother code that :func:`reconciler`'s run (same arguments) takes for a
    block of ``num_key_bits`` key bits whose QBER estimate is ``qber_estimate``, without building it; ``None`` for
    an empty key (no frame, no code): :func:`block_codes` of one block. tests/test_qkd_codes.py checks it against
    :func:`reconcile`'s result.

    Examples:
        >>> block_code(27_000, 0.011, 1.16, sample_fraction=0.1, mode="blind"), block_code(0, 0.01, 1.16)
        ((16384, 0.85), None)
    """
    codes = block_codes(np.array([num_key_bits]), np.array([qber_estimate], dtype=float), efficiency,
                        sample_fraction=sample_fraction, frame_bits=frame_bits, mode=mode)
    return (int(codes.code_bits[0]), MOTHER_RATES[int(codes.rate_index[0])]) if codes.num_frames[0] else None


def block_codes(num_key_bits: np.ndarray, qber_estimates: np.ndarray, efficiency: float, *,
                sample_fraction: float = 0.0, frame_bits: int | None = None, mode: str = "rate_adaptive"
                ) -> FrameCodes:
    """The mother codes that :func:`reconciler`'s run (same arguments) takes for blocks of ``num_key_bits`` key bits
    whose QBER estimates are ``qber_estimates`` (arrays, broadcast), without building them: :func:`frame_codes` of
    :func:`reconciler`'s rates (``num_frames`` 0: an empty key, no code). What ``dqsim warmup`` and ``dqsim check``
    predict a job's codes from (:mod:`dqsim.scenarios.qkd_codes`, millions of blocks at once); elementwise NumPy,
    the scalar path's formulas (:func:`design_qber`, :func:`least_efficiency`, :func:`target_rate`) on arrays.

    Examples:
        >>> codes = block_codes(np.array([27_000, 27_000, 0]), np.array([0.011, 0.03, 0.01]), 1.16,
        ...                     sample_fraction=0.1, mode="blind")
        >>> codes.num_frames.tolist(), codes.code_bits.tolist(), [MOTHER_RATES[i] for i in codes.rate_index]
        ([2, 2, 0], [16384, 16384, 256], [0.85, 0.75, 0.9])
    """
    estimates = np.minimum(0.5, np.asarray(qber_estimates, dtype=float))
    num = np.asarray(num_key_bits, dtype=np.int64)
    qber, target, estimate = _block_settings(num, estimates, efficiency, sample_fraction)
    rate = target_rate(np.minimum(0.5, qber), target)
    start = target_rate(estimate, np.full(np.shape(estimate), BLIND_START_EFFICIENCY)) if mode == "blind" else None
    return frame_codes(num, rate, frame_bits=frame_bits, start_rate=start)
