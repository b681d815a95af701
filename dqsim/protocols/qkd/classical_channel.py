"""One direction of a QKD link's classical channel, shared by the key blocks in post-processing at once.

A classical message of ``b`` bits takes ``b / R`` to be put on the channel at its bit rate ``R``
(``[qkd].classical_bit_rate_hz``, :func:`~dqsim.protocols.qkd.nodes.message_delay_ps`) and then crosses the
fibre (the link's delay ``d``). The channel sends one message at a time, first come first served: a message
handed to it at ``t`` while an earlier one is still being sent starts when that one ends,

    start = max(t, free),   free <- start + b/R,   arrival = start + b/R + d,

with ``free`` the end of the last transmission in that direction: a single-server FIFO queue with
deterministic service times, a message's delay on a link being its queueing, transmission and propagation
delays (J. F. Kurose and K. W. Ross, *Computer Networking: A Top-Down Approach*, Sec. "Delay, Loss, and
Throughput in Packet-Switched Networks"; D. Bertsekas and R. Gallager, *Data Networks*, Ch. 3, "Delay Models
in Data Networks"). Each direction has its
own channel (full duplex), and the sender of a direction keeps it (:class:`ClassicalChannel`, held by all of
Alice's, or all of Bob's, processes of the link): the time is worked out where the message is sent and
travels with it, so the ranks agree with no exchange of their own.

Which messages queue: every classical message of a key block, each taking its bits over the rate (with their
authentication tags, :mod:`~dqsim.protocols.qkd.authentication`, which also gives their lengths): Bob's
detection reports, Alice's sifting answer, Bob's parameter-estimation message, the key message, Cascade's and
blind LDPC's round messages and answers, Bob's acknowledgement (BBM92/E91's reports too, with their own bits,
since 2026-12-07 (morning): Bob's process draws each batch of pairs, so it knows his clicks). The photons'
messages are the quantum channel. Until 2026-12-07 no message queued; until later that day the reports, sifting
and estimation messages took no channel time (:data:`ERROR_CORRECTION_ONLY`); until the next morning
BBM92/E91's reports took their tags' bits only and every report's click places the shorter of a bitmap and a
list of indices (:data:`REPORTS_UNSIZED`).
"""

from __future__ import annotations

from dataclasses import dataclass


def queued_delay_ps(now_ps: int, free_ps: int, transmission_ps: int) -> tuple[int, int]:
    """A message handed to a FIFO channel at ``now_ps``: ``(delay before its last bit leaves, new free time)``, ps.

    The delay is the wait for the channel (``max(0, free_ps - now_ps)``) plus the message's transmission time;
    the fibre delay comes on top (module docstring).

    Args:
        now_ps: when the message is handed to the channel, ps.
        free_ps: when the channel's last transmission ends, ps.
        transmission_ps: the message's bits over the bit rate, ps, >= 0.

    Examples:
        >>> queued_delay_ps(100, 0, 30)     # the channel is free: its own transmission time
        (30, 130)
        >>> queued_delay_ps(100, 150, 30)   # waits 50 ps behind an earlier message, then 30 ps
        (80, 180)
    """
    start = max(now_ps, free_ps)
    free = start + transmission_ps
    return free - now_ps, free


#: What a :class:`ClassicalChannel` carries: every classical message of a key block with its bits, the click places
#: of the reports in the shortest of three codes (module docstring).
EVERY_MESSAGE = "every message of a block, its bits, places coded enumeratively"
#: What one pickled on 2026-12-07 before 2026-12-07 (morning)'s change carried: every message, but BBM92/E91's
#: reports with their tags' bits only and every report's places as a bitmap or indices.
REPORTS_UNSIZED = "every message of a block"
#: What one pickled before 2026-12-07 (later that day) carried: the error-correction messages only, the reports,
#: sifting and estimation messages untimed beside it.
ERROR_CORRECTION_ONLY = "error-correction messages only"


@dataclass
class ClassicalChannel:
    """One direction of a link's classical channel, kept by its sender (module docstring).

    Attributes:
        free_ps: when the last message handed to it has been put on the fibre, ps (0: never used).
        messages: which messages it carries (:data:`EVERY_MESSAGE`; :data:`ERROR_CORRECTION_ONLY` when restored
            from a checkpoint written before they all did).
    """

    free_ps: int = 0
    messages: str = EVERY_MESSAGE

    def __setstate__(self, state):
        state.setdefault("messages", ERROR_CORRECTION_ONLY)
        self.__dict__.update(state)

    def send(self, ctx, dest: int, tag, payload=None, *, transmission_ps: int) -> int:
        """Send a message through the channel (after the messages before it); returns its arrival time, ps."""
        delay_ps, self.free_ps = queued_delay_ps(ctx.now_ps, self.free_ps, transmission_ps)
        return ctx.send(dest, tag, payload, extra_delay_ps=delay_ps)
