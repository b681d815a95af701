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
    hops takes about m steps, not the m(m - 1)/2 of its announcements one by one.

    The periods are held in sorted blocks of at most ``2 * block`` (:class:`_SortedPeriods`), so a step is a
    bisection and an insertion or a deletion in one block: O(log m + block + m/block). Until 2026-12-07 (afternoon)
    they were two Python lists whose insertions moved every later period: a trusted chain's announcements are
    handed over at the front (each hop's offset outgrows the next key's lateness), so a route of m hops took
    m²/2 moves, 36 CPU s at 2^18 hops, where it takes ~1 CPU s now
    (``bench/results/qkd-network-gather-vm-20261207p.md``).
    """

    def __init__(self, send_ps: int, block: int | None = None):
        self.send_ps = send_ps
        self.offset_ps = 0
        self.periods = _SortedPeriods(block or PERIOD_BLOCK)

    def _end(self, at: tuple[int, int]) -> int:
        return self.periods.start(at) + self.periods.count(at) * self.send_ps

    def _merge_from(self, at: tuple[int, int] | None) -> None:
        """Merge the period at ``at`` and those after it into the one before while they begin before it ends."""
        periods = self.periods
        while at is not None:
            before = periods.before(at)
            if before is None or periods.start(at) > self._end(before):
                return
            periods.add_count(before, periods.count(at))
            at = periods.delete(at)

    def hand_over(self, handed_ps: int, free_ps: int) -> None:
        """The trusted node's announcement joins the queue at ``handed_ps`` (after those arriving no later), and the
        hop's channel is busy until ``free_ps``."""
        periods = self.periods
        handed = handed_ps - self.offset_ps
        at = periods.last_at_or_before(handed)
        if at is not None and handed < self._end(at):  # it arrives inside a period: one more in it
            periods.add_count(at, 1)
            self._merge_from(periods.after(at))
        else:
            new = periods.insert_after(at, handed, 1)
            before = periods.before(new)
            if before is not None and handed <= self._end(before):
                self._merge_from(new)
            else:
                self._merge_from(periods.after(new))
        free = free_ps - self.offset_ps
        first = periods.first()
        if periods.start(first) < free:
            periods.set_start(first, free)
            self._merge_from(periods.after(first))

    def send(self, last_send_ps: int, delay_ps: int) -> None:
        """Send the queue over the hop: ``send_ps`` each, ``last_send_ps`` the last, then the fibre's ``delay_ps``."""
        extra = last_send_ps - self.send_ps
        if extra:
            periods = self.periods
            last = periods.last()
            last_start = self._end(last) - self.send_ps
            if periods.count(last) > 1:
                periods.add_count(last, -1)
                periods.insert_after(last, last_start + extra, 1)
            else:
                periods.set_start(last, last_start + extra)
        self.offset_ps += self.send_ps + delay_ps

    def last_arrival_ps(self) -> int:
        """When the last announcement reaches the far end of the hop it was last sent over, ps."""
        return self._end(self.periods.last()) - self.send_ps + self.offset_ps


#: Periods a block of :class:`_SortedPeriods` is split back to once it holds twice as many.
PERIOD_BLOCK = 512


class _SortedPeriods:
    """Busy periods ``(start, count)`` sorted by start, in blocks of 1 to ``2 * block`` periods, with each block's
    first start in a list to bisect (the layout of G. Jenks' ``sortedcontainers.SortedList``): finding, inserting
    and deleting a period takes a bisection over the blocks and one within a block, and moves at most ``2 * block``
    periods and, when a block is split or emptied, the ``m / block`` blocks' entries. A period is named by its
    place ``(block, index)``, good until the next insertion or deletion.

    Examples:
        >>> p = _SortedPeriods(block=1)
        >>> at = p.insert_after(None, 10, 1); at = p.insert_after(at, 20, 2); at = p.insert_after(at, 30, 1)
        >>> p.starts, p.firsts, p.last_at_or_before(25), p.last_at_or_before(5), p.count(p.last())
        ([[10], [20, 30]], [10, 20], (1, 0), None, 1)
        >>> p.delete((1, 0)), p.starts, p.firsts, p.before((1, 0)), p.after((1, 0))
        ((1, 0), [[10], [30]], [10, 30], (0, 0), None)
    """

    def __init__(self, block: int):
        self.block = block
        self.starts: list[list[int]] = []
        self.counts: list[list[int]] = []
        self.firsts: list[int] = []  # each block's first start

    def start(self, at: tuple[int, int]) -> int:
        return self.starts[at[0]][at[1]]

    def count(self, at: tuple[int, int]) -> int:
        return self.counts[at[0]][at[1]]

    def add_count(self, at: tuple[int, int], more: int) -> None:
        self.counts[at[0]][at[1]] += more

    def set_start(self, at: tuple[int, int], start: int) -> None:
        """Move a period's start (kept in order by the caller)."""
        b, i = at
        self.starts[b][i] = start
        if i == 0:
            self.firsts[b] = start

    def first(self) -> tuple[int, int]:
        return (0, 0)

    def last(self) -> tuple[int, int]:
        return (len(self.starts) - 1, len(self.starts[-1]) - 1)

    def before(self, at: tuple[int, int]) -> tuple[int, int] | None:
        b, i = at
        if i > 0:
            return (b, i - 1)
        return (b - 1, len(self.starts[b - 1]) - 1) if b > 0 else None

    def after(self, at: tuple[int, int]) -> tuple[int, int] | None:
        b, i = at
        if i + 1 < len(self.starts[b]):
            return (b, i + 1)
        return (b + 1, 0) if b + 1 < len(self.starts) else None

    def last_at_or_before(self, start: int) -> tuple[int, int] | None:
        """The place of the last period that starts at or before ``start`` (``None``: none does)."""
        b = bisect.bisect_right(self.firsts, start) - 1
        if b < 0:
            return None
        return (b, bisect.bisect_right(self.starts[b], start) - 1)

    def insert_after(self, at: tuple[int, int] | None, start: int, count: int) -> tuple[int, int]:
        """Put a period right after the one at ``at`` (``None``: first); returns its place."""
        if not self.starts:
            self.starts.append([start])
            self.counts.append([count])
            self.firsts.append(start)
            return (0, 0)
        b, i = (0, 0) if at is None else (at[0], at[1] + 1)
        self.starts[b].insert(i, start)
        self.counts[b].insert(i, count)
        if i == 0:
            self.firsts[b] = start
        if len(self.starts[b]) > 2 * self.block:  # split the block in two halves
            half = self.block
            self.starts.insert(b + 1, self.starts[b][half:])
            self.counts.insert(b + 1, self.counts[b][half:])
            del self.starts[b][half:], self.counts[b][half:]
            self.firsts.insert(b + 1, self.starts[b + 1][0])
            if i >= half:
                return (b + 1, i - half)
        return (b, i)

    def delete(self, at: tuple[int, int]) -> tuple[int, int] | None:
        """Remove the period at ``at``; returns the place of the one that followed it (``None``: none)."""
        b, i = at
        del self.starts[b][i], self.counts[b][i]
        if not self.starts[b]:
            del self.starts[b], self.counts[b], self.firsts[b]
            return (b, 0) if b < len(self.starts) else None
        if i == 0:
            self.firsts[b] = self.starts[b][0]
        return (b, i) if i < len(self.starts[b]) else ((b + 1, 0) if b + 1 < len(self.starts) else None)


def key_left_bits(link_keys_bits: list[int], relayed_bits: int) -> list[int]:
    """The key each link of the route keeps after relaying ``relayed_bits`` end to end (one-time pad), bits.

    Examples:
        >>> key_left_bits([52_257, 9_256], 9_256)
        [43001, 0]
    """
    return [k - relayed_bits for k in link_keys_bits]
