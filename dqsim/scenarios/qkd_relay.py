"""Trusted-node relaying of a QKD key along a route: when the end-to-end key exists, and what each link keeps.

A trusted node joins two links by a one-time pad: it holds the key of the link on each side, XORs them and
announces the result over the next hop's classical channel, so that the end nodes share the key of the first
link (the SECOQC network: M. Peev et al., New J. Phys. 11, 075001 (2009); hop-by-hop key transport:
M. Dianati, R. Alléaume, M. Gagnaire and X. Shen, Security Comm. Networks 1, 57 (2008)). The key is as long
as the route's shortest link key, and every link of the route spends that many bits.

Timing model (all times simulated, ps): hop k of the route, k = 0 ... m - 1 from ``node_a`` towards
``node_b``, has its key at ``t_k`` (the link's ``simulated_time_ps``: its last block post-processed). The
trusted node between hops k - 1 and k announces once both keys exist, at max(t_{k-1}, t_k); its
announcement, forwarded hop by hop towards ``node_b``, crosses hops k ... m - 1, each taking its fibre
delay L·n_g/c plus the message's transmission time (key bits / classical bit rate). ``node_a`` has the key
at t_0 (it is its link's key); ``node_b`` once every announcement has arrived:

    T = max(t_0, max_{k=1..m-1} [max(t_{k-1}, t_k) + Σ_{j=k}^{m-1} D_j]),   D_j = delay_j + ⌈bits·10¹²/R⌉

which for a single hop (no trusted node) is t_0. Forwarding each node's announcement or re-encrypting
the key hop by hop (SECOQC's scheme) gives the same T; queueing behind other messages and the time to XOR
are not counted.
"""

from __future__ import annotations

from dqsim.protocols.qkd.nodes import message_delay_ps


def relayed_key_time_ps(key_times_ps: list[int], hop_delays_ps: list[int], bits: int,
                        classical_bit_rate_hz: float) -> int:
    """Simulated time at which both ends of a trusted-node route hold the end-to-end key, ps.

    Args:
        key_times_ps: t_k, when hop k's link key exists (hops from ``node_a`` to ``node_b``), ps.
        hop_delays_ps: each hop's fibre delay L·n_g/c (the first hop's is not needed: no relay sends over it), ps.
        bits: the end-to-end key's length (each announcement's length), bits.
        classical_bit_rate_hz: the classical channels' bit rate, bit/s.

    The module docstring gives the model and its sources (Peev et al., NJP 11, 075001 (2009)).

    Examples:
        >>> relayed_key_time_ps([2_588, 3_763], [98, 294], 0, 1e9)  # the later key, one hop's delay later
        4057
        >>> relayed_key_time_ps([5_000, 100], [50, 300], 0, 1e9)  # the first link is the late one
        5300
        >>> relayed_key_time_ps([700], [30], 10, 1e9)  # one link: its own key
        700
    """
    send = message_delay_ps(bits, classical_bit_rate_hz)
    done, travel = key_times_ps[0], 0
    for k in range(len(key_times_ps) - 1, 0, -1):  # from node_b back: travel sums hops k ... m - 1
        travel += hop_delays_ps[k] + send
        done = max(done, max(key_times_ps[k - 1], key_times_ps[k]) + travel)
    return done


def key_left_bits(link_keys_bits: list[int], relayed_bits: int) -> list[int]:
    """The key each link of the route keeps after relaying ``relayed_bits`` end to end (one-time pad), bits.

    Examples:
        >>> key_left_bits([52_257, 9_256], 9_256)
        [43001, 0]
    """
    return [k - relayed_bits for k in link_keys_bits]
