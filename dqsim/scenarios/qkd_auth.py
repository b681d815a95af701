"""The ``qkd`` scenario's authentication columns: the key each block, link and trusted-node route spends on
Wegman–Carter tags, and the key left (:mod:`dqsim.protocols.qkd.authentication` gives the model and its
sources).

Blocks: ``classical_messages``, ``auth_tags``, ``auth_key_bits``, ``net_key_bits`` = max(0, key - tags' key),
``net_key_rate_bits_per_s``, ``eps_auth`` (tags × ``[qkd].eps_auth``) and ``eps_total`` (finite key:
eps_sec + eps_cor + eps_auth). Links: the blocks' tags summed and the key left of the link's key, clipped at 0
with a warning (a block's tags are paid from the link's key pool, so a block without key pays from the
others'), and the pre-shared key the pool must start with, ``preshared_auth_key_bits``
(:func:`~dqsim.protocols.qkd.authentication.preshared_key_bits`: the first block's tags, and those of every
block whose pads are taken before enough key exists). Routes: each hop's link also pays the tags of the relay's
announcements it carries (:func:`~dqsim.protocols.qkd.authentication.relay_authentication`).
"""

from __future__ import annotations

from dqsim.protocols.qkd import authentication as auth


#: Pulses of a key block, and its classical messages, as the run's nodes count them (one rule for both).
block_pulses = auth.block_pulses
block_messages = auth.run_block_messages


def link_authentication(q, tally) -> list[tuple[int, auth.Authentication]]:
    """``(classical messages, tags)`` of each block of a link's tally, in its blocks' order."""
    found = []
    for block, *_times, counts, result in tally.blocks:
        messages = block_messages(q, block, counts, result)
        found.append((messages.num_messages, auth.block_authentication(messages, q.authentication, q.eps_auth)))
    return found


def _rate(bits: int, pulses: int, source_rate_hz: float) -> float:
    return bits / pulses * source_rate_hz if pulses else 0.0


def block_columns(q, messages_and_tags, secret_key_bits: int, pulses: int) -> tuple:
    """``(classical_messages, auth_tags, auth_key_bits, net_key_bits, net_key_rate_bits_per_s, eps_auth,
    eps_total)`` of a block row."""
    num_messages, tags = messages_and_tags
    net = auth.net_key_bits(secret_key_bits, tags.key_bits)
    total = q.eps_sec + q.eps_cor + tags.eps_auth if q.security == "finite_key" else float("nan")
    return (num_messages, tags.num_tags, tags.key_bits, net, _rate(net, pulses, q.source.source_rate_hz),
            tags.eps_auth, total)


#: Names and types of :func:`block_columns`, the last columns of the ``blocks`` table.
BLOCK_AUTH_FIELDS = [("classical_messages", "i8"), ("auth_tags", "i8"), ("auth_key_bits", "i8"),
                     ("net_key_bits", "i8"), ("net_key_rate_bits_per_s", "f8"), ("eps_auth", "f8"),
                     ("eps_total", "f8")]


def preshared_bits(q, messages_and_tags, blocks) -> int:
    """The pre-shared authentication key a link needs, bits (:func:`~dqsim.protocols.qkd.authentication.
    preshared_key_bits`): each block's tags taken when its first tag is sent, ``"per_message"`` at its emission's
    start (its first report's tag), ``"per_block"`` at its estimate (its key message; the tags ride on its last
    messages); its key made when it exists (``key_ready_ps``). ``blocks``: the link's tally rows, in the order of
    ``messages_and_tags``."""
    if q.authentication == "none":
        return 0
    spent = [(row[1] if q.authentication == "per_message" else row[4], tags.key_bits)
             for row, (_n, tags) in zip(blocks, messages_and_tags)]
    made = [(row[5], row[7].secret_key_bits) for row in blocks]
    return auth.preshared_key_bits(spent, made)


def link_columns(q, messages_and_tags, key_bits: int, pulses: int, blocks=()) -> tuple:
    """``(auth_key_bits, net_key_bits, net_key_rate_bits_per_s, preshared_auth_key_bits)`` of a link row: its
    blocks' tags together, the key left, and the pre-shared key it needs (:func:`preshared_bits` of ``blocks``,
    the link's tally rows)."""
    spent = sum(tags.key_bits for _n, tags in messages_and_tags)
    net = auth.net_key_bits(key_bits, spent)
    return spent, net, _rate(net, pulses, q.source.source_rate_hz), preshared_bits(q, messages_and_tags, blocks)


#: Names and types of :func:`link_columns`, the last columns of the ``links``/``sweep`` table.
LINK_AUTH_FIELDS = [("auth_key_bits", "i8"), ("net_key_bits", "i8"), ("net_key_rate_bits_per_s", "f8"),
                    ("preshared_auth_key_bits", "i8")]


def short_key_warning(where: str, mode: str, spent: int, key_bits: int) -> list[str]:
    """One line where tags spent more than a key that exists (``0 < key_bits < spent``), else none."""
    if not 0 < key_bits < spent:
        return []
    return [f"{where}: authentication ({mode}) spends {spent:,} key bits, more than the {key_bits:,} it made: "
            f"net key 0 (the tags' pads come from key made before or pre-shared)"]


def short_route_warning(where: str, mode: str, key_bits: int, net_bits: int) -> list[str]:
    """One line where a route's end-to-end key exists but none is left once its links' and the relay's tags
    are paid (``key_bits > 0``, ``net_bits == 0``), else none."""
    if not (key_bits > 0 and net_bits == 0):
        return []
    return [f"{where}: authentication ({mode}: the links' tags and the relay's announcements') leaves none of the "
            f"{key_bits:,} relayed key bits: net key 0"]


def route_columns(q, link_net_bits: list[int], seconds: float) -> tuple[tuple, list[tuple[int, int]]]:
    """A trusted-node route's ``(relay_auth_key_bits, net_key_bits, net_key_rate_bits_per_s)`` and, per hop
    from ``node_a``, ``(auth_key_bits, net_key_left_bits)``.

    ``link_net_bits``: each hop's link key less its own blocks' tags. The end-to-end key E must leave each hop
    j its announcements' tags A_j: E = max(0, min_j (net_j - A_j)); the tags are sized for a key of min_j net_j
    bits (>= E: a tag long enough for a longer message is long enough). Hop j keeps net_j - E - A_j (>= 0).
    Where E would be 0 no key is relayed: no announcement, no tag, each hop keeps net_j.
    """
    longest = min(link_net_bits)
    hops = auth.relay_authentication(len(link_net_bits), longest, q.authentication, q.eps_auth)
    end_bits = max(0, min(net - hop.key_bits for net, hop in zip(link_net_bits, hops)))
    if end_bits == 0:
        hops = [auth.Authentication(0, 0, 0.0)] * len(link_net_bits)
    spent = sum(hop.key_bits for hop in hops)
    rate = end_bits / seconds if seconds else float("nan")
    return (spent, end_bits, rate), [(hop.key_bits, net - end_bits - hop.key_bits)
                                     for net, hop in zip(link_net_bits, hops)]


def announcement_tags(mode: str, hop_auth: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Tag bits each hop of a route puts on the relay's announcements, ``(on each, besides on the last)``, from
    :func:`route_columns`' hops (``(auth_key_bits, net_key_left_bits)``; hop j carries j announcements of one
    length, :func:`~dqsim.protocols.qkd.authentication.relay_authentication`): ``"per_message"`` a tag each,
    ``"per_block"`` the hop's one tag on its last (:mod:`dqsim.scenarios.qkd_relay`).

    Examples:
        >>> announcement_tags("per_message", [(0, 5), (39, 1), (78, 0)])
        [(0, 0), (39, 0), (39, 0)]
        >>> announcement_tags("per_block", [(0, 5), (39, 1)])
        [(0, 0), (0, 39)]
    """
    if mode == "per_message":
        return [(spent // j if j else 0, 0) for j, (spent, _left) in enumerate(hop_auth)]
    return [(0, spent) for spent, _left in hop_auth]


#: Names and types of :func:`route_columns`' first part, the last columns of the ``end_to_end`` table ...
ROUTE_AUTH_FIELDS = [("relay_auth_key_bits", "i8"), ("net_key_bits", "i8"), ("net_key_rate_bits_per_s", "f8")]
#: ... and of its second part, the last columns of the ``relay_links`` table.
HOP_AUTH_FIELDS = [("auth_key_bits", "i8"), ("net_key_left_bits", "i8")]

