"""Trusted-node relaying of a QKD key along a route: when the end-to-end key exists, and what each link keeps.

A trusted node joins two links by a one-time pad: it holds the key of the link on each side, XORs them and
announces the result over the next hop's classical channel, so that the end nodes share the key of the first
link (the SECOQC network: M. Peev et al., New J. Phys. 11, 075001 (2009); hop-by-hop key transport:
M. Dianati, R. Alléaume, M. Gagnaire and X. Shen, Security Comm. Networks 1, 57 (2008)). The key is as long
as the route's shortest link key, and every link of the route spends that many bits.

Timing model (all times simulated, ps): hop k of the route, k = 0 ... m - 1 from ``node_a`` towards
``node_b``, has its key at ``t_k`` (the link's ``simulated_time_ps``: its last block post-processed). The
trusted node between hops k - 1 and k hands its announcement (``bits`` long, the end-to-end key) to hop k at
a_k = max(t_{k-1}, t_k), once both keys exist; forwarded hop by hop towards ``node_b``, it crosses hops
k ... m - 1. Each hop's classical channel in that direction is a first-come-first-served queue
(:mod:`dqsim.protocols.qkd.classical_channel`), free from when the link's own messages that way have left
(f_j, the link's ``channel_free_ps``): the announcements on hop j (from trusted nodes 1 ... j) are sent in the
order they are handed to it (ties: the nearer ``node_a`` first), each taking ``⌈(bits + tag)·10¹²/R⌉`` and then
the fibre delay ``delay_j``, and handed to hop j + 1 on arrival:

    start = max(handed, free),   free <- start + ⌈(bits + tag)·10¹²/R⌉,   arrival = free + delay_j

``node_a`` has the key at t_0 (it is its link's key); ``node_b`` once every announcement has arrived:
T = max(t_0, the last arrival over hop m - 1); for a single hop (no trusted node) T = t_0. With no two
announcements on a hop at once and each hop free (f_j <= a_k), this is

    T = max(t_0, max_{k=1..m-1} [a_k + Σ_{j=k}^{m-1} D_j]),   D_j = delay_j + ⌈bits·10¹²/R⌉,

the model before 2026-12-07 (later that day), when announcements neither queued nor carried their tags' bits. The
tags (:func:`~dqsim.protocols.qkd.authentication.relay_authentication`): ``"per_message"`` each announcement
carries its own on each hop; ``"per_block"`` the hop's one tag rides on the last announcement it sends. The
link's own messages go first: an announcement handed to a hop that is still post-processing waits for the end
of its last message that way (a bound: it could have gone in a gap between them). The announcements are
forwarded (hop j carries j of them, as the tags count them,
:func:`~dqsim.protocols.qkd.authentication.relay_authentication`); re-encrypting the key hop by hop (SECOQC's
scheme: one message a hop) gives the same T where no two announcements meet on a hop, and an earlier one where
they queue. The time to XOR is not counted.
"""

from __future__ import annotations

import bisect

from dqsim.protocols.qkd.nodes import message_delay_ps


def relayed_key_time_ps(key_times_ps: list[int], hop_delays_ps: list[int], bits: int, classical_bit_rate_hz: float,
                        *, hop_free_ps: list[int] | None = None, hop_tags_bits: list[tuple[int, int]] | None = None
                        ) -> int:
    """Simulated time at which both ends of a trusted-node route hold the end-to-end key, ps.

    Args:
        key_times_ps: t_k, when hop k's link key exists (hops from ``node_a`` to ``node_b``), ps.
        hop_delays_ps: each hop's fibre delay L·n_g/c (the first hop's is not needed: no relay sends over it), ps.
        bits: the end-to-end key's length (each announcement's length), bits.
        classical_bit_rate_hz: the classical channels' bit rate, bit/s.
        hop_free_ps: f_j, when hop j's own messages towards ``node_b`` have left, ps (``None``: 0, free).
        hop_tags_bits: ``(on each announcement, besides on the last)`` tag bits of each hop (``None``: none); the
            first of each pair is the same on every hop but the first (the tags of :func:`~dqsim.protocols.qkd.
            authentication.relay_authentication`: a tag of one announcement each, or none).

    Raises:
        ValueError: ``hop_tags_bits`` puts tags of different lengths on each announcement of two hops. A
            programming error, not a job's (hence not a :class:`~dqsim.errors.DqsimError`): the run's caller passes
            the tags of :func:`~dqsim.protocols.qkd.authentication.relay_authentication`, which never do.

    The module docstring gives the model and its sources (Peev et al., NJP 11, 075001 (2009)). The hops' queues
    are kept as their busy periods (:class:`_BusyPeriods`), so a route of m hops takes about m steps where the
    m(m - 1)/2 announcements one by one took 5.9 CPU s at m = 4,095, ~25 min at 65,535 (until 2026-12-07, later
    that day; 0.015 CPU s at 4,095 since).

    Examples:
        >>> relayed_key_time_ps([2_588, 3_763], [98, 294], 0, 1e9)  # the later key, one hop's delay later
        4057
        >>> relayed_key_time_ps([5_000, 100], [50, 300], 0, 1e9)  # the first link is the late one
        5300
        >>> relayed_key_time_ps([700], [30], 10, 1e9)  # one link: its own key
        700
        >>> relayed_key_time_ps([100, 100, 100], [0, 10, 10], 1, 1e9)  # 1,000 ps each: node 1's waits on hop 2
        2120
        >>> relayed_key_time_ps([100, 100], [0, 10], 1, 1e9, hop_free_ps=[0, 600])  # the link's messages first
        1610
    """
    if len(key_times_ps) == 1:  # one link: its own key
        return key_times_ps[0]
    free = hop_free_ps or [0] * len(key_times_ps)
    tags = hop_tags_bits or [(0, 0)] * len(key_times_ps)
    each = {tag for tag, _last in tags[1:]}
    if len(each) > 1:
        raise ValueError(f"relayed_key_time_ps: hop_tags_bits must put one tag length on each announcement of every "
                         f"hop but the first, got {sorted(each)}")
    each_bits = each.pop() if each else 0
    queue = _BusyPeriods(message_delay_ps(bits + each_bits, classical_bit_rate_hz))
    for j in range(1, len(key_times_ps)):
        queue.hand_over(max(key_times_ps[j - 1], key_times_ps[j]), free[j])
        queue.send(message_delay_ps(bits + each_bits + tags[j][1], classical_bit_rate_hz), hop_delays_ps[j])
    return max(key_times_ps[0], queue.last_arrival_ps())


class _BusyPeriods:
    """The announcements queued on one hop of a route, as the busy periods of its channel (FIFO, one at a time).

    A period is ``(start, count)``: ``count`` announcements whose transmissions follow one another from
    ``start`` + offset, ``send_ps`` each; periods are sorted and apart (each starts after the one before ends).
    Crossing a hop adds the same ``send_ps`` + fibre delay to every announcement (the offset) but the last (its
    tag) and those the hop's channel makes wait (its own messages, ``free``; the trusted node's announcement
    handed over between two others): the periods there are merged, each merge ending a period, so a route of m
    hops takes about m steps (a bisection and a list insertion each), not the m(m - 1)/2 of its announcements one
    by one.
    """

    def __init__(self, send_ps: int):
        self.send_ps = send_ps
        self.offset_ps = 0
        self.starts: list[int] = []
        self.counts: list[int] = []

    def _end(self, index: int) -> int:
        return self.starts[index] + self.counts[index] * self.send_ps

    def _merge_from(self, index: int) -> None:
        """Merge the periods from ``index`` on into the one before while they begin before it ends."""
        while 0 < index < len(self.starts) and self.starts[index] <= self._end(index - 1):
            self.counts[index - 1] += self.counts[index]
            del self.starts[index], self.counts[index]

    def hand_over(self, handed_ps: int, free_ps: int) -> None:
        """The trusted node's announcement joins the queue at ``handed_ps`` (after those arriving no later), and the
        hop's channel is busy until ``free_ps``."""
        handed = handed_ps - self.offset_ps
        index = bisect.bisect_right(self.starts, handed) - 1
        if index >= 0 and handed < self._end(index):  # it arrives inside a period: one more in it
            self.counts[index] += 1
            self._merge_from(index + 1)
        else:
            self.starts.insert(index + 1, handed)
            self.counts.insert(index + 1, 1)
            self._merge_from(index + 1)
            self._merge_from(index + 2)
        free = free_ps - self.offset_ps
        if self.starts[0] < free:
            self.starts[0] = free
            self._merge_from(1)

    def send(self, last_send_ps: int, delay_ps: int) -> None:
        """Send the queue over the hop: ``send_ps`` each, ``last_send_ps`` the last, then the fibre's ``delay_ps``."""
        extra = last_send_ps - self.send_ps
        if extra:
            last_start = self._end(len(self.starts) - 1) - self.send_ps
            if self.counts[-1] > 1:
                self.counts[-1] -= 1
                self.starts.append(last_start + extra)
                self.counts.append(1)
            else:
                self.starts[-1] = last_start + extra
        self.offset_ps += self.send_ps + delay_ps

    def last_arrival_ps(self) -> int:
        """When the last announcement reaches the far end of the hop it was last sent over, ps."""
        return self._end(len(self.starts) - 1) - self.send_ps + self.offset_ps


def key_left_bits(link_keys_bits: list[int], relayed_bits: int) -> list[int]:
    """The key each link of the route keeps after relaying ``relayed_bits`` end to end (one-time pad), bits.

    Examples:
        >>> key_left_bits([52_257, 9_256], 9_256)
        [43001, 0]
    """
    return [k - relayed_bits for k in link_keys_bits]
