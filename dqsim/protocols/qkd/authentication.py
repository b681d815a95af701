"""The key spent on authenticating a QKD link's classical channel (Wegman–Carter, with key recycling).

QKD needs an authenticated classical channel: Eve may read every classical message but must not change one
unnoticed. Deployed systems authenticate with key they already share: a tag ``t = h_k(m) ⊕ r`` is sent with
the message (or transcript) ``m``, where ``h_k`` is drawn from an almost-XOR-universal family of hash
functions by a secret ``k`` and ``r`` is a one-time pad as long as the tag (M. N. Wegman and J. L. Carter,
J. Comput. Syst. Sci. 22, 265 (1981)). The hash key ``k`` is recycled from tag to tag; only the one-time pad
is spent, ``n`` bits of key per ``n``-bit tag, and the errors of ``ℓ`` tags per round over ``r`` rounds add
up to at most ``r·(ℓ·ε + ε')`` (C. Portmann, IEEE Trans. Inf. Theory 60, 4383 (2014), with ε' the error of
the QKD round itself; the recipe of a whole post-processing chain with its authentication: C.-H. F. Fung,
X. Ma and H. F. Chau, Phys. Rev. A 81, 012318 (2010)). The first tags need a pre-shared key: before a link's
first key block is distilled, there is no QKD key to pay them from (:func:`preshared_key_bits`).

The family: polynomial evaluation over GF(2^n) (B. den Boer, J. Computer Security 2, 65 (1993); D. R.
Stinson, Designs, Codes and Cryptography 4, 369 (1994)). A message of ``L`` bits is cut into
``d = ⌈L/n⌉`` blocks of ``n`` bits, one more block holds ``L`` (so that messages of different lengths are
different polynomials), and ``h_k(m) = Σ_i m_i·k^i``: two different messages' hashes differ by a given
value for at most ``d + 1`` of the ``2^n`` keys (a nonzero polynomial of degree ``d + 1`` has at most that
many roots), so a forged message passes with probability at most

    ε_tag(L, n) = (⌈L/n⌉ + 1) · 2^-n

and the tag is the shortest ``n`` with ``ε_tag(L, n) <= eps_auth`` (:func:`tag_bits`): about
``log2(1/eps_auth) + log2(L/n)`` bits, so a message's length matters only through its logarithm.

Which messages get a tag (``[qkd].authentication``, :data:`AUTHENTICATION_MODES`):

- ``"per_block"`` (the default): each side tags its whole transcript of a key block once, when the block's
  post-processing ends, and checks the other side's tag before the block's key is used — two tags a block
  (one each way). A forged message is then found at the block's end instead of at once; the block's key is
  not used before, so nothing is lost but that block. Cheap, and common practice (E. O. Kiktenko et al.,
  "Lightweight authentication for quantum key distribution", arXiv:1903.10237, go further: one tag a
  post-processing round).
- ``"per_message"``: every classical message of the block carries its own tag (each its own length).
- ``"none"``: no authentication key is counted (the key as before 2026-12-06).

The classical messages of a block are the node processes' (:mod:`dqsim.protocols.qkd.nodes`): Bob's
detection report of each batch, Alice's sifting answer, Bob's parameter-estimation message, Alice's key
message (the error-correction syndrome or leakage, the verification hash and the privacy-amplification
seed), one parity message and its answer per Cascade round, and Bob's acknowledgement
(:class:`BlockMessages`). The photons' messages of the simulation (the quantum channel) are not among them.

A tag travels with its message (:class:`MessageTags`, :func:`report_tag_bits`): its bits are added to that
message's on the classical channel, where the run times every message of a block by its bits
(:mod:`~dqsim.protocols.qkd.classical_channel`; :func:`~dqsim.protocols.qkd.nodes.ec_message_delays_ps`). With
``"per_block"`` Alice's tag rides on her last message of the block (the last round's answer, or the key message
without rounds) and Bob's on his acknowledgement; with ``"per_message"`` each message carries its own. Until
2026-12-07 no tag took channel time (some 40-55 bits a tag: 40-55 ns at 1 Gbit/s), and until the evening of
that day the reports, sifting and estimation messages took none either, nor their tags.

**What the timed messages hold** (bits, the same counts :class:`BlockMessages` bounds the tags with):

- Bob's detection report of a batch of N pulses with k clicks (BB84): which pulses clicked and his basis for
  each, ``k + positions_bits(N, k)`` (:func:`report_message_bits`; Bennett and Brassard 1984's public
  discussion: Bob announces which time slots he detected and in which basis). The click positions take the
  enumerative code (:func:`positions_bits`), the rank of the k-subset among all C(N, k), ⌈log2 C(N, k)⌉ bits
  (T. M. Cover, "Enumerative source encoding", IEEE Trans. Inf. Theory 19, 73 (1973)), which is never longer
  than a bitmap (N bits) or a list of ⌈log2 N⌉-bit indices: about
  N·h(k/N) bits, 0.65 bits a pulse with the basis bits at 0.12 clicks a pulse, where the bitmap took 1.12
  (until 2026-12-07 (morning) the shorter of bitmap and indices was charged). A receiver decodes it with a
  table of binomials; its cost in computation is not simulated.
  BBM92/E91's Bob reports likewise the pair slots he detected and his setting of each (E91's Bob: three
  settings, 2 bits a click; or a 2-bit symbol a slot where shorter): his process draws each batch of pairs,
  both sides (:class:`~dqsim.protocols.qkd.nodes.EntangledBob`), so his report's length is known where it is
  sent (until 2026-12-07 (morning) Alice's process drew them and his report took its tag's bits only).
- Alice's sifting answer: her basis (BB84 with decoy states: and intensity class, H.-K. Lo, X. Ma and K. Chen,
  Phys. Rev. Lett. 94, 230504 (2005)) for each of Bob's detections, ``(1 + ⌈log2 classes⌉)`` bits a detection;
  BBM92/E91 which of Bob's clicks she detected too (``positions_bits(k_B, c)``) and her setting for each of those
  c coincidences (1 or 2 bits). Uncompressed: a basis announcement per detection.
- Bob's parameter-estimation message: the sampled key bits' values and their positions among the n key bits
  (``positions_bits(n, m)`` for a random sample of m; none where the sample is a whole public set: BB84's decoy
  classes, the finite key's X basis, BBM92's X–X test bits, E91's test settings).

The pre-shared key (:func:`preshared_key_bits`): the link's authentication key pool starts with ``P`` bits
shared before the run; each key block adds its distilled key when the block's key exists (its
acknowledgement), and each block's tags take their one-time pads from it. ``P`` is the least with which the
pool never runs dry: the largest excess, at any moment, of the pads taken over the keys made. A block's pads
are all taken when its first tag is sent (so ``P`` is an upper bound where a block's tags are spread out):
``"per_block"``, when its key message is sent (its estimate time; its tags ride on its last messages, sent
after); ``"per_message"``, when its emission starts (its first report's tag comes a batch and a round trip
later). So the first block's tags always come from ``P``, and so do those of every block whose tags are taken
before enough key exists: with the source emitting on, the blocks post-processed while the first is. QKD is
thus a key expansion from an initial shared secret that authenticates the first messages (C. H. Bennett and
G. Brassard, Proc. IEEE Int. Conf. on Computers, Systems and Signal Processing (1984); R. Alléaume et al.,
"Using quantum key distribution for cryptographic purposes: a survey", Theor. Comput. Sci. 560, 62 (2014);
Portmann 2014). Units: bits throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dqsim.errors import DqsimError

#: The choices of ``[qkd].authentication`` (its default, ``"per_block"``, and ``eps_auth``'s, 1e-10, are in
#: :mod:`dqsim.jobs.qkd`).
AUTHENTICATION_MODES = ("per_block", "per_message", "none")
#: Bits of one Bob's report per pulse (pair slot) of its batch, at most: a click flag, and for a click his basis
#: (:func:`report_message_bits` never passes it: two or three settings).
REPORT_BITS_PER_PULSE = 2


def enumerative_bits(num_items: int, num_marked: int) -> int:
    """Length of the enumerative code of a ``num_marked``-subset of ``num_items`` places: ⌈log2 C(N, m)⌉, bits.

    The subset's rank among all C(N, m) subsets in lexicographic order, written in binary (T. M. Cover,
    "Enumerative source encoding", IEEE Trans. Inf. Theory 19, 73 (1973)): the shortest fixed-length code of a
    subset whose size the receiver knows. Worked out from ``lgamma``; where that lands within 1e-6 of an integer
    the binomial is taken exactly (:func:`math.comb`), so the ceiling is exact.

    Args:
        num_items: N, places, >= 0.
        num_marked: m, marked places, 0..N.

    Examples:
        >>> enumerative_bits(1_000, 1), enumerative_bits(8, 4), enumerative_bits(1_000, 0)  # 1000; C(8, 4) = 70
        (10, 7, 0)
        >>> enumerative_bits(1_000_000, 5_000)  # against 100,000 bits of 20-bit indices
        45408
    """
    if not 0 <= num_marked <= num_items:
        raise DqsimError(f"enumerative_bits: num_marked must be in [0, num_items = {num_items}], got {num_marked}")
    m = min(num_marked, num_items - num_marked)
    if m == 0:
        return 0
    log2_c = (math.lgamma(num_items + 1) - math.lgamma(m + 1) - math.lgamma(num_items - m + 1)) / math.log(2.0)
    if abs(log2_c - round(log2_c)) > 1e-6:
        return math.ceil(log2_c)
    return (math.comb(num_items, m) - 1).bit_length()  # ⌈log2 x⌉ of an integer x >= 1, exactly


def positions_bits(num_items: int, num_marked: int) -> int:
    """Bits that say which ``num_marked`` of ``num_items`` places are marked, bits: the enumerative code
    (:func:`enumerative_bits`, Cover 1973), never longer than a bitmap (N bits) or a list of the marked places'
    indices (⌈log2 N⌉ bits each), as C(N, m) <= 2^N and <= N^m; much shorter in between: at 20 km in
    ``jobs/bb84_decoy_50km.toml`` (0.12 clicks a pulse) a report takes 0.65 bits a pulse with the basis bits,
    against 1.12 with the bitmap. A subset of none or all places costs nothing (the receiver knows the set).
    Until 2026-12-07 (morning) the shorter of a bitmap and the indices was charged; from then until 2026-12-07
    (later) ``positions_code`` named the shortest of the three, always the enumerative code (the name went
    nowhere: the messages carry bit counts, and checkpoints hold none).

    Args:
        num_items: N, places, >= 0.
        num_marked: m, marked places, 0..N.

    Examples:
        >>> positions_bits(1_000_000, 5_000), positions_bits(1_000_000, 270_000)  # 45,408 < 100,000; 841,455 < 1e6
        (45408, 841455)
        >>> positions_bits(1_000, 0), positions_bits(1_000, 1_000), positions_bits(2, 1)
        (0, 0, 1)
    """
    if not 0 <= num_marked <= num_items:
        raise DqsimError(f"positions_bits: num_marked must be in [0, num_items = {num_items}], got {num_marked}")
    return enumerative_bits(num_items, num_marked)


def report_settings(protocol: str) -> int:
    """The settings (bases) each side measures in: BB84 and BBM92 2, E91 3. Those of the side whose detection
    report crosses first, Bob's (:func:`report_message_bits`, ``nodes.report_delay_ps``), and of Alice's
    sifting answer (:func:`entangled_block_messages`), which until 2026-12-07 (later) spelled it again.

    Examples:
        >>> report_settings("bb84_decoy"), report_settings("bbm92"), report_settings("e91")
        (2, 2, 3)
    """
    return 3 if protocol == "e91" else 2


def setting_bits(num_settings: int) -> int:
    """Bits that name one of ``num_settings`` measurement settings (a basis): ⌈log2 settings⌉ (BB84, BBM92: 1;
    E91's Bob, three settings: 2)."""
    return (num_settings - 1).bit_length()


def report_message_bits(num_pulses: int, num_clicks: int, num_settings: int = 2) -> int:
    """A detection report of a batch of ``num_pulses`` pulses (pair slots) in which ``num_clicks`` clicked, bits:
    the clicks' positions (:func:`positions_bits`) and the setting of each (:func:`setting_bits`), or, where
    shorter, a symbol a pulse (no click, or the click's setting: ``⌈log2 (settings + 1)⌉`` bits a pulse), so at
    most :data:`REPORT_BITS_PER_PULSE` a pulse for two or three settings (module docstring).

    Examples:
        >>> report_message_bits(1_000_000, 5_000), report_message_bits(1_000_000, 270_000)
        (50408, 1111455)
        >>> report_message_bits(1_000, 900, 3), report_message_bits(1_000, 900)  # E91's Bob: 2 bits a pulse
        (2000, 1365)
    """
    clicks_first = num_clicks * setting_bits(num_settings) + positions_bits(num_pulses, num_clicks)
    return min(clicks_first, num_pulses * setting_bits(num_settings + 1))


def report_tag_bits(num_pulses: int, mode: str, eps_auth: float) -> int:
    """The tag bits on Bob's report of a batch of ``num_pulses`` pulses: ``"per_message"``, the tag of a
    report of at most :data:`REPORT_BITS_PER_PULSE` a pulse (the length :class:`BlockMessages` counts); else
    none (``"per_block"``: his block's tag rides on his acknowledgement).

    Examples:
        >>> report_tag_bits(1_000_000, "per_message", 1e-10), report_tag_bits(1_000_000, "per_block", 1e-10)
        (49, 0)
    """
    return tag_bits(REPORT_BITS_PER_PULSE * num_pulses, eps_auth) if mode == "per_message" else 0


def forgery_probability(message_bits: int, tag_bits: int) -> float:
    """Probability that a forged message of at most ``message_bits`` bits passes an ``tag_bits``-bit tag.

    The polynomial hash over GF(2^n) with the message's length as one more block (module docstring:
    den Boer 1993; Stinson 1994): ``(⌈L/n⌉ + 1) · 2^-n``.

    Args:
        message_bits: L, the message's length, bits, >= 0.
        tag_bits: n, the tag's length, bits, >= 1.

    Examples:
        >>> f"{forgery_probability(1_000_000, 48):.4g}"  # 20,834 blocks and the length block, over 2^48
        '7.402e-11'
        >>> forgery_probability(0, 1)  # an empty message: the length block alone
        0.5
    """
    if message_bits < 0 or tag_bits < 1:
        raise DqsimError(f"forgery_probability: message_bits must be >= 0 and tag_bits >= 1, got "
                         f"{message_bits} and {tag_bits}")
    return (-(-message_bits // tag_bits) + 1) * 2.0 ** -tag_bits


def tag_bits(message_bits: int, eps_auth: float) -> int:
    """Length of the tag that authenticates a message of ``message_bits`` bits to ``eps_auth``, bits.

    The shortest n with ``(⌈L/n⌉ + 1) · 2^-n <= eps_auth`` (:func:`forgery_probability`); the tag is
    one-time padded, so it is also the key the tag spends (Wegman and Carter 1981; Portmann 2014).

    Args:
        message_bits: L, the message's (or transcript's) length, bits, >= 0.
        eps_auth: the forgery probability allowed for this tag, in (0, 1).

    Examples:
        >>> tag_bits(1_000_000, 1e-10)  # 47 bits give 21,278 · 2^-47 = 1.5e-10: one more
        48
        >>> tag_bits(100, 2.0 ** -40)  # 3 blocks and the length: 4 · 2^-42 = 2^-40
        42
    """
    if not 0.0 < eps_auth < 1.0:
        raise DqsimError(f"tag_bits: eps_auth must be in (0, 1), got {eps_auth!r}")
    n = max(1, math.ceil(math.log2(1.0 / eps_auth)))  # (⌈L/n⌉ + 1)·2^-n <= ε needs 2^-n < ε at least
    while forgery_probability(message_bits, n) > eps_auth:
        n += 1
    return n


@dataclass(frozen=True)
class Transcript:
    """One direction's classical messages of a key block.

    Attributes:
        message_bits: ``((bits, count), ...)``: ``count`` messages of at most ``bits`` bits each.
        total_bits: at most the whole transcript's length, bits (<= the sum of the messages').
    """

    message_bits: tuple[tuple[int, int], ...]
    total_bits: int

    @property
    def num_messages(self) -> int:
        return sum(count for _bits, count in self.message_bits)


@dataclass(frozen=True, kw_only=True)
class BlockMessages:
    """The classical messages of one key block's post-processing, with a bound on each one's length (bits).

    Alice → Bob: the sifting answer, the key message, one answer per Cascade round. Bob → Alice: a
    detection report per batch, the parameter-estimation message, one parity message per Cascade round,
    the acknowledgement. The lengths are upper bounds (a tag long enough for a longer message is long
    enough for a shorter one); the key message and the Cascade messages are bounded by the block's
    ``classical_bits`` (the post-processing's count, :class:`~dqsim.protocols.qkd.reconciliation.
    PostprocessResult`'s ``message_bits``), each and all together.

    Attributes:
        report_bits: ``((bits, count), ...)``: Bob's reports, :data:`REPORT_BITS_PER_PULSE` a pulse of the batch.
        sifting_bits: Alice's sifting answer: her basis (and intensity class) for each of Bob's detections.
        estimation_bits: Bob's parameter estimation: the key bits disclosed to estimate the QBER (and BB84's
            decoy bits, E91's test settings' outcomes).
        key_message_bits: Alice's key message: syndrome (or the modelled leakage), verification hash and seeds.
        ec_rounds: Cascade rounds (0: one-way error correction or the leakage model).
        ec_message_bits: each Cascade message's length, at most.
        ec_total_bits: the key message and every Cascade message together, at most (None: their sum).
        ack_bits: Bob's acknowledgement (LDPC: with a flag a frame).
    """

    report_bits: tuple[tuple[int, int], ...]
    sifting_bits: int
    estimation_bits: int
    key_message_bits: int
    ec_rounds: int = 0
    ec_message_bits: int = 0
    ec_total_bits: int | None = None
    ack_bits: int = 1

    def _ec_bound(self, bits: int) -> int:
        return bits if self.ec_total_bits is None else min(bits, self.ec_total_bits)

    def alice_to_bob(self) -> Transcript:
        messages = ((self.sifting_bits, 1), (self.key_message_bits, 1), (self.ec_message_bits, self.ec_rounds))
        total = self.sifting_bits + self._ec_bound(self.key_message_bits + self.ec_rounds * self.ec_message_bits)
        return Transcript(tuple((b, c) for b, c in messages if c), total)

    def bob_to_alice(self) -> Transcript:
        messages = (*self.report_bits, (self.estimation_bits, 1), (self.ec_message_bits, self.ec_rounds),
                    (self.ack_bits, 1))
        total = (sum(b * c for b, c in self.report_bits) + self.estimation_bits
                 + self._ec_bound(self.ec_rounds * self.ec_message_bits) + self.ack_bits)
        return Transcript(tuple((b, c) for b, c in messages if c), total)

    @property
    def num_messages(self) -> int:
        """Classical messages of the block, both ways: reports + 4 + 2 × Cascade rounds."""
        return self.alice_to_bob().num_messages + self.bob_to_alice().num_messages


@dataclass(frozen=True)
class Authentication:
    """The tags of a block (or a relay hop).

    Attributes:
        num_tags: tags sent.
        key_bits: key they spend (their one-time pads), bits.
        eps_auth: the probability that a forgery passes one of them, at most (``num_tags · eps_auth`` of a tag;
            Portmann 2014), to be added to the block's ε.
    """

    num_tags: int
    key_bits: int
    eps_auth: float


def transcript_tags(transcripts, mode: str, eps_auth: float) -> Authentication:
    """The tags that authenticate ``transcripts`` (one :class:`Transcript` per direction) in ``mode``.

    ``"per_block"``: one tag per direction with a message, over its whole transcript; ``"per_message"``:
    one per message; ``"none"``: none (:data:`AUTHENTICATION_MODES`).

    Examples:
        >>> t = Transcript(((1000, 3),), 3000)
        >>> transcript_tags([t], "per_block", 1e-10)  # one tag for 3,000 bits
        Authentication(num_tags=1, key_bits=40, eps_auth=1e-10)
        >>> transcript_tags([t], "per_message", 1e-10)  # a 39-bit tag for each 1,000 bits
        Authentication(num_tags=3, key_bits=117, eps_auth=3e-10)
    """
    if mode not in AUTHENTICATION_MODES:
        raise DqsimError(f"transcript_tags: mode must be one of {AUTHENTICATION_MODES}, got {mode!r}")
    if mode == "none":
        return Authentication(0, 0, 0.0)
    if mode == "per_block":
        sizes = [(t.total_bits, 1) for t in transcripts if t.num_messages]
    else:
        sizes = [pair for t in transcripts for pair in t.message_bits]
    tags = sum(count for _bits, count in sizes)
    return Authentication(tags, sum(count * tag_bits(bits, eps_auth) for bits, count in sizes), tags * eps_auth)


def block_authentication(messages: BlockMessages, mode: str, eps_auth: float) -> Authentication:
    """The tags of one key block's classical messages (:func:`transcript_tags` of both directions).

    Examples:
        >>> m = BlockMessages(report_bits=((2_000_000, 1),), sifting_bits=4_000, estimation_bits=100,
        ...                   key_message_bits=5_000)
        >>> m.num_messages, block_authentication(m, "per_block", 1e-10).num_tags
        (5, 2)
    """
    return transcript_tags([messages.alice_to_bob(), messages.bob_to_alice()], mode, eps_auth)


def relay_authentication(num_hops: int, key_bits: int, mode: str, eps_auth: float) -> list[Authentication]:
    """The tags of a trusted-node route's announcements, per hop (from ``node_a``), for a key of ``key_bits``.

    The trusted node between hops k - 1 and k announces the XOR of its two link keys (``key_bits`` long),
    forwarded over hops k ... m - 1 (:mod:`dqsim.scenarios.qkd_relay`'s model); each hop's nodes share only
    that hop's key, so each message is tagged on each hop with that link's key: hop j carries j
    announcements. ``"per_message"``: a tag each; ``"per_block"``: one tag over the hop's announcements
    together (checked before the end-to-end key is used); ``"none"``: none. Hop 0 carries none.

    Examples:
        >>> [a.num_tags for a in relay_authentication(3, 1000, "per_message", 1e-10)]
        [0, 1, 2]
        >>> [a.key_bits for a in relay_authentication(3, 1000, "per_block", 1e-10)]
        [0, 39, 39]
    """
    hops = []
    for j in range(num_hops):
        transcript = Transcript(((key_bits, j),) if j else (), j * key_bits)
        hops.append(transcript_tags([transcript], mode, eps_auth))
    return hops


@dataclass(frozen=True)
class MessageTags:
    """Tag bits that travel with each of a block's messages after its reports (module docstring; the reports':
    :func:`report_tag_bits`).

    Attributes:
        sifting: on Alice's sifting answer.
        estimation: on Bob's parameter-estimation message.
        key: on Alice's key message.
        request: on each of Bob's round messages (Cascade's parities, blind LDPC's requests).
        answer: on each of Alice's answers.
        last_answer: on Alice's last answer, besides ``answer`` (her block's tag with ``"per_block"``).
        ack: on Bob's acknowledgement.
    """

    key: int = 0
    request: int = 0
    answer: int = 0
    last_answer: int = 0
    ack: int = 0
    sifting: int = 0
    estimation: int = 0


#: No tags (``authentication = "none"``, or the leakage model, whose messages take no channel time).
NO_TAGS = MessageTags()


def message_tags(messages: BlockMessages, mode: str, eps_auth: float) -> MessageTags:
    """The tag bits each message of a block after its reports carries (:class:`MessageTags`).

    The same tags :func:`block_authentication` counts (the reports' with :func:`report_tag_bits`): ``"per_block"``,
    Alice's over her transcript on her last message (the last answer, or the key message without rounds) and
    Bob's over his on his acknowledgement; ``"per_message"``, each message's own (the lengths
    :class:`BlockMessages` bounds); ``"none"``: none.

    Examples:
        >>> m = BlockMessages(report_bits=((200, 1),), sifting_bits=4_000, estimation_bits=100,
        ...                   key_message_bits=5_000, ec_rounds=3, ec_message_bits=900, ec_total_bits=5_000)
        >>> message_tags(m, "per_block", 1e-10)  # Alice's 9,000-bit transcript, Bob's 3,001 bits
        MessageTags(key=0, request=0, answer=0, last_answer=42, ack=40, sifting=0, estimation=0)
        >>> message_tags(m, "per_message", 1e-10)
        MessageTags(key=41, request=38, answer=38, last_answer=0, ack=35, sifting=40, estimation=36)
    """
    if mode not in AUTHENTICATION_MODES:
        raise DqsimError(f"message_tags: mode must be one of {AUTHENTICATION_MODES}, got {mode!r}")
    if mode == "none":
        return NO_TAGS
    if mode == "per_block":
        alice = tag_bits(messages.alice_to_bob().total_bits, eps_auth)
        bob = tag_bits(messages.bob_to_alice().total_bits, eps_auth)
        if messages.ec_rounds:
            return MessageTags(last_answer=alice, ack=bob)
        return MessageTags(key=alice, ack=bob)
    each = tag_bits(messages.ec_message_bits, eps_auth) if messages.ec_rounds else 0
    return MessageTags(key=tag_bits(messages.key_message_bits, eps_auth), request=each, answer=each,
                       ack=tag_bits(messages.ack_bits, eps_auth), sifting=tag_bits(messages.sifting_bits, eps_auth),
                       estimation=tag_bits(messages.estimation_bits, eps_auth))


def preshared_key_bits(spent, made) -> int:
    """The pre-shared key a link's authentication needs, bits: the largest excess, at any moment, of the tags'
    one-time pads taken over the key made (module docstring; 0 where the key always comes first).

    Args:
        spent: ``(time, bits)`` of each block's tags, when their pads are taken.
        made: ``(time, bits)`` of each block's distilled key, when it exists.

    At equal times the pads are taken first.

    Examples:
        >>> preshared_key_bits([(10, 80), (20, 80)], [(30, 5_000), (40, 5_000)])  # both blocks' tags, first
        160
        >>> preshared_key_bits([(10, 80), (35, 80)], [(30, 5_000), (40, 5_000)])  # the second paid by the first
        80
        >>> preshared_key_bits([(10, 80), (35, 80)], [(30, 50), (40, 5_000)])  # the first block made 50 bits
        110
    """
    events = sorted([(t, 0, bits) for t, bits in spent] + [(t, 1, -bits) for t, bits in made])
    balance = most = 0
    for _time, _order, bits in events:
        balance += bits
        most = max(most, balance)
    return int(most)


def block_pulses(q, block: int) -> int:
    """Pulses (pair slots) of key block ``block`` of a link run with ``[qkd]`` section ``q``: ``q.block_pulses``,
    the last block what is left of ``q.pulses``."""
    return min(q.block_pulses, q.pulses - block * q.block_pulses)


def run_block_messages(q, block: int, counts, result) -> BlockMessages:
    """:func:`block_messages` of key block ``block`` of a link run with ``[qkd]`` section ``q``: the messages the
    run's nodes time (:mod:`~dqsim.protocols.qkd.nodes`) and the tables charge
    (:mod:`dqsim.scenarios.qkd_auth`), one rule for both."""
    return block_messages(q.protocol, block_pulses(q, block), q.batch_pulses, counts, result)


def block_messages(protocol: str, pulses: int, batch_pulses: int, counts, result) -> BlockMessages:
    """The classical messages of one key block of ``pulses`` pulses (pair slots) sent in batches of
    ``batch_pulses`` (:func:`bb84_block_messages` or :func:`entangled_block_messages`)."""
    batches = batch_sizes(pulses, batch_pulses)
    if protocol == "bb84_decoy":
        return bb84_block_messages(counts, result, batches)
    return entangled_block_messages(protocol, counts, result, batches)


def net_key_bits(key_bits: int, auth_key_bits: int) -> int:
    """The key left once the authentication's one-time pads are paid, bits: ``max(0, key - auth)``.

    At 0 the tags spent more than the key made: the difference comes from key made before (or the
    pre-shared key), and the scenario says so in a warning.

    Examples:
        >>> net_key_bits(1000, 96), net_key_bits(50, 96)
        (904, 0)
    """
    return max(0, int(key_bits) - int(auth_key_bits))


def batch_sizes(block_pulses: int, batch_pulses: int) -> tuple[tuple[int, int], ...]:
    """``((pulses, count), ...)`` of the batches of a block of ``block_pulses`` pulses (the node processes'
    batches: whole ``batch_pulses`` ones and the rest, :meth:`~dqsim.protocols.qkd.nodes.QkdPlan.batches`).

    Examples:
        >>> batch_sizes(250, 100), batch_sizes(200, 100)
        (((100, 2), (50, 1)), ((100, 2),))
    """
    full, rest = divmod(block_pulses, batch_pulses)
    return tuple((size, count) for size, count in ((batch_pulses, full), (rest, 1 if rest else 0)) if count)


def _key_message_of_model(leakage_bits: float, sifted_bits: int, secret_key_bits: int) -> int:
    """The key message where the leakage is modelled: the modelled syndrome and the privacy-amplification
    seed (``n + ℓ - 1`` bits for n <= the sifted bits), bits."""
    return math.ceil(leakage_bits) + sifted_bits + secret_key_bits


def _with_postprocess(done, **fields) -> BlockMessages:
    """The block's messages with its key message and Cascade's messages taken from ``done`` (a
    :class:`~dqsim.protocols.qkd.reconciliation.PostprocessResult`; ``None``: the leakage model's)."""
    if done is None:
        return BlockMessages(**fields)
    fields["key_message_bits"] = done.message_bits
    return BlockMessages(**fields, ec_rounds=done.rounds, ec_message_bits=done.message_bits,
                         ec_total_bits=done.message_bits, ack_bits=1 + done.frames)


def bb84_block_messages(counts, result, batches: tuple[tuple[int, int], ...]) -> BlockMessages:
    """The classical messages of a decoy-state BB84 block (:class:`BlockMessages`).

    Args:
        counts: the block's :class:`~dqsim.protocols.qkd.postprocess.BlockCounts` (one entry per intensity class).
        result: its :class:`~dqsim.protocols.qkd.postprocess.BlockResult`.
        batches: its batches, :func:`batch_sizes`.

    Alice's sifting answer names her basis and intensity class of each detection (1 + ⌈log2 classes⌉ bits);
    Bob's estimation message discloses the estimation bits and the decoy classes' sifted bits (their errors),
    and the positions of a random sample among the signal class's sifted bits (:func:`positions_bits`; none
    with the finite key, whose test is the whole X basis).
    """
    detections = sum(counts.detected)
    sifted = sum(counts.sifted)
    class_bits = math.ceil(math.log2(len(counts.detected))) if len(counts.detected) > 1 else 0
    sampled = result.num_estimation_bits if result.finite_key is None else 0
    return _with_postprocess(
        result.postprocess, report_bits=tuple((REPORT_BITS_PER_PULSE * n, c) for n, c in batches),
        sifting_bits=(1 + class_bits) * detections,
        estimation_bits=min(sifted, result.num_estimation_bits + sum(counts.sifted[1:]))
        + positions_bits(counts.sifted[0], min(sampled, counts.sifted[0])),
        key_message_bits=_key_message_of_model(result.leakage_bits, sifted, result.secret_key_bits))


def entangled_block_messages(protocol: str, counts, result, batches: tuple[tuple[int, int], ...]) -> BlockMessages:
    """The classical messages of a BBM92/E91 block (:class:`BlockMessages`).

    Args:
        protocol: ``"bbm92"`` or ``"e91"``.
        counts: the block's :class:`~dqsim.protocols.qkd.entangled.SiftedCounts`.
        result: its :class:`~dqsim.protocols.qkd.entangled_block.EntangledBlockResult`.
        batches: its batches, :func:`batch_sizes`.

    Alice's sifting answer says which of the clicks Bob reported are coincidences (:func:`positions_bits` of
    them among his clicks, ``counts.num_bob_clicks``; none where that is not counted) and her setting for each
    (BBM92 2 settings: 1 bit; E91 3: 2 bits; until 2026-12-07 (morning) the settings only); Bob's estimation
    message discloses the sampled key bits, their positions (:func:`positions_bits`; none where every bit of the
    set is the test, BBM92's X–X bits) and, E91, the outcomes of the test settings (CHSH's coincidences).
    """
    settings_bits = setting_bits(report_settings(protocol))
    tests = counts.num_coincidences - counts.num_sifted if protocol == "e91" else 0
    estimate = result.estimate
    bob_clicks = counts.num_coincidences if counts.num_bob_clicks is None else counts.num_bob_clicks
    return _with_postprocess(
        result.postprocess, report_bits=tuple((REPORT_BITS_PER_PULSE * n, c) for n, c in batches),
        sifting_bits=settings_bits * counts.num_coincidences + positions_bits(bob_clicks, counts.num_coincidences),
        estimation_bits=estimate.num_sampled + tests + positions_bits(estimate.num_bits, estimate.num_sampled),
        key_message_bits=_key_message_of_model(result.leakage_bits, counts.num_sifted, result.secret_key_bits))
