"""Counter-based random streams: what a seed reproduces.

Every random draw in dqsim comes from a :class:`Stream` keyed by
``(seed, node, purpose)`` and advanced by an integer *event counter*. The
generator for one event is NumPy's Philox-4x64 with

* key = the first two 64-bit words of ``SeedSequence([seed, node, purpose_id])``
  (``purpose_id`` a stable hash of the purpose name), and
* counter = ``[0, 0, event, 0]``, so every event owns 2^64 Philox blocks.

A seed therefore reproduces every outcome of a run bit for bit, whatever the
number of MPI ranks, however nodes are placed on ranks, and whether the run
was restarted from a checkpoint (which stores each stream's event counter).
It does *not* protect against floating-point differences: probabilities are
sums whose rounding depends on how the state is split, so an outcome whose
uniform draw lies within ~1e-15 of a decision boundary could differ. Other
modules link to this paragraph instead of repeating it.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Stream", "purpose_id"]

#: The generator and state dict that :meth:`Stream.transient_generator` reuses (``None`` until first used).
_TRANSIENT: tuple | None = None


def purpose_id(purpose: str) -> int:
    """Stable 63-bit integer for a purpose name (independent of Python's hash seed).

    Examples:
        >>> purpose_id("measure") == purpose_id("measure")
        True
        >>> purpose_id("measure") != purpose_id("noise")
        True
    """
    digest = hashlib.blake2b(purpose.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


_MASK32 = 0xFFFFFFFF
#: The hash constants of NumPy's ``SeedSequence`` (they do not depend on the entropy): its ``i``-th mix of a
#: word xors ``_HASH_A[i]`` and multiplies by ``_HASH_A[i + 1]``; its output words use ``_HASH_B`` likewise.
_HASH_A = [0x43B0D7E5]
_HASH_B = [0x8B51F9DD]
for _ in range(4 + 12 + 4 * 8):  # enough for 12 entropy words; _philox_key extends it for more
    _HASH_A.append((_HASH_A[-1] * 0x931E8875) & _MASK32)
for _ in range(4):
    _HASH_B.append((_HASH_B[-1] * 0x58F38DED) & _MASK32)
#: The pool mixing of a ``SeedSequence``: every pool word (source) into every other one (target), as
#: ``(source, target, xor, multiplier)`` in its order (the mixes 4 to 15).
_POOL_MIXES = tuple((source, target, _HASH_A[4 + n], _HASH_A[5 + n]) for n, (source, target) in
                    enumerate((s, t) for s in range(4) for t in range(4) if s != t))
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715


def _philox_key(seed: int, node: int, purpose: int) -> list[int]:
    """``SeedSequence([seed, node, purpose]).generate_state(2, dtype=np.uint64)`` as two Python ints.

    NumPy's algorithm (a pool of four 32-bit words, ``bit_generator.pyx``)
    written out with its hash constants precomputed: the same words, in a
    fraction of the time of building a ``SeedSequence`` (a run makes one
    stream per node and purpose). Non-negative arguments of any size.

    Examples:
        >>> key = np.random.SeedSequence([7, 3, 11]).generate_state(2, dtype=np.uint64)
        >>> _philox_key(7, 3, 11) == [int(w) for w in key]
        True
    """
    mask, hash_a, mix_l, mix_r = _MASK32, _HASH_A, _MIX_L, _MIX_R
    words: list[int] = []
    for value in (seed, node, purpose):  # each as little-endian 32-bit words (0 as one word)
        if not value:
            words.append(0)
        while value:
            words.append(value & mask)
            value >>= 32
    words += [0] * (4 - len(words))  # (hashing a missing word hashes a 0)
    pool = []
    for i in range(4):
        value = ((words[i] ^ hash_a[i]) * hash_a[i + 1]) & mask
        pool.append(value ^ (value >> 16))
    for source, target, xor, multiplier in _POOL_MIXES:
        value = ((pool[source] ^ xor) * multiplier) & mask
        mixed = (mix_l * pool[target] - mix_r * (value ^ (value >> 16))) & mask
        pool[target] = mixed ^ (mixed >> 16)
    if len(words) > 4:  # the words beyond the pool into every pool word
        while len(hash_a) < 4 * len(words) + 1:
            hash_a.append((hash_a[-1] * 0x931E8875) & mask)
        i = 16
        for word in words[4:]:
            for target in range(4):
                value = ((word ^ hash_a[i]) * hash_a[i + 1]) & mask
                i += 1
                mixed = (mix_l * pool[target] - mix_r * (value ^ (value >> 16))) & mask
                pool[target] = mixed ^ (mixed >> 16)
    out = []
    for j in range(4):
        value = ((pool[j] ^ _HASH_B[j]) * _HASH_B[j + 1]) & mask
        out.append(value ^ (value >> 16))
    return [out[0] | (out[1] << 32), out[2] | (out[3] << 32)]


class Stream:
    """Random draws for one (seed, node, purpose), indexed by an event counter.

    Args:
        seed: the run's seed (non-negative integer).
        node: index of the node the draws belong to (0 for a monolithic run).
        purpose: what the draws are for, e.g. ``"measure"`` or ``"noise"``.
        event: first event counter to use (restored from a checkpoint).

    Examples:
        >>> a = Stream(7, node=0, purpose="measure")
        >>> b = Stream(7, node=0, purpose="measure")
        >>> bool(a.next_generator().random() == b.next_generator().random())
        True
        >>> a.event
        1
    """

    def __init__(self, seed: int, *, node: int = 0, purpose: str = "default", event: int = 0):
        if seed < 0 or node < 0 or event < 0:
            raise ValueError(f"seed, node and event must be >= 0, got {seed}, {node}, {event}")
        self.seed = int(seed)
        self.node = int(node)
        self.purpose = purpose
        self.event = int(event)
        self._key_ints = _philox_key(self.seed, self.node, purpose_id(purpose))  # for transient_generator
        self._key = np.array(self._key_ints, dtype=np.uint64)

    def __setstate__(self, state: dict) -> None:
        """Unpickling (checkpoints); a stream pickled before ``_key_ints`` existed gets it from its key."""
        self.__dict__.update(state)
        if "_key_ints" not in state:
            self._key_ints = [int(w) for w in self._key]

    def __repr__(self) -> str:
        return f"Stream({self.seed}, node={self.node}, purpose={self.purpose!r}, event={self.event})"

    def generator(self, event: int) -> np.random.Generator:
        """The generator of one event, without advancing the counter."""
        bitgen = np.random.Philox(key=self._key, counter=np.array([0, 0, event, 0], dtype=np.uint64))
        return np.random.Generator(bitgen)

    def transient_generator(self, event: int) -> np.random.Generator:
        """The generator of one event, reusing one generator object that all streams share.

        Same draws as :meth:`generator` but several times faster (no new
        Philox object: the shared one gets this stream's key and the event's
        counter); the object is reset by the next call on *any* stream, so
        draw from it at once and do not keep it.
        """
        global _TRANSIENT  # noqa: PLW0603 - one cache per process, built on first use
        if _TRANSIENT is None:
            _TRANSIENT = _reusable_generator(self._key, self._key_ints)
        return _reset_generator(_TRANSIENT, self._key_ints, event)

    def own_generator(self, event: int) -> np.random.Generator:
        """The generator of one event, reusing one generator object of this stream.

        Same draws as :meth:`generator` and as fast as :meth:`transient_generator`
        (about 1 us against 30 on the dev VM), but the object belongs to this
        stream: only the next ``own_generator`` call on this stream resets it, so
        it may be kept while other streams draw. Not pickled with the stream.

        Examples:
            >>> s = Stream(7, purpose="x")
            >>> a = s.own_generator(3).random(2)
            >>> b = Stream(7, purpose="y").own_generator(3).random(2)
            >>> a.tolist() == s.generator(3).random(2).tolist() == s.own_generator(3).random(2).tolist()
            True
        """
        held = self.__dict__.get("_own")
        if held is None:
            held = self._own = _reusable_generator(self._key, self._key_ints)
        return _reset_generator(held, self._key_ints, event)

    def __getstate__(self) -> dict:
        """Pickling (checkpoints): the stream's fields, without the generator :meth:`own_generator` keeps."""
        state = dict(self.__dict__)
        state.pop("_own", None)
        return state

    def uniforms_from(self, event: int, start: int, size: int) -> np.ndarray:
        """Uniform draws ``start .. start + size - 1`` of event ``event``'s generator (float64 in [0, 1)),
        without drawing those before ``start``.

        Philox makes four 64-bit words per counter step and ``random`` takes one
        word per float64, so the counter skips ``start // 4`` steps and the
        ``start % 4`` words left are drawn and dropped: the same numbers as
        ``generator(event).random(start + size)[start:]`` in memory for ``size``
        of them, for any ``start`` (the draws of a long run taken piece by piece).

        Examples:
            >>> s = Stream(7, purpose="x")
            >>> s.uniforms_from(2, 5, 3).tolist() == s.generator(2).random(8)[5:].tolist()
            True
        """
        if start < 0 or size < 0:
            raise ValueError(f"start and size must be >= 0, got {start}, {size}")
        generator = self.generator(event)
        generator.bit_generator.advance(start // 4)
        if start % 4:
            generator.random(start % 4)
        return generator.random(size)

    def next_transient(self) -> np.random.Generator:
        """:meth:`transient_generator` of the next event; advances the counter by one."""
        gen = self.transient_generator(self.event)
        self.event += 1
        return gen

    def next_generator(self) -> np.random.Generator:
        """The generator of the next event; advances the counter by one."""
        gen = self.generator(self.event)
        self.event += 1
        return gen

    def uniform(self, size: int | None = None):
        """Uniform draws in [0, 1) from the next event (those of :meth:`next_generator`, drawn through
        :meth:`next_transient`: no new generator object).

        Examples:
            >>> a, b = Stream(7, purpose="x"), Stream(7, purpose="x")
            >>> bool(a.uniform() == b.next_generator().random()), a.uniform(2).tolist() == b.next_generator().random(2).tolist()
            (True, True)
        """
        return self.next_transient().random(size)


def _reusable_generator(key: np.ndarray, key_ints: list) -> tuple:
    """A Philox generator with ``key`` and the state dict that :func:`_reset_generator` sets on it."""
    # lists of Python ints, not uint64 arrays: the state setter reads the same values element by
    # element, and reading them from a list costs a fraction of making NumPy scalars
    bit_generator = np.random.Philox(key=key)
    inner = {"counter": [0, 0, 0, 0], "key": key_ints}
    return (np.random.Generator(bit_generator), bit_generator, inner,
            {"bit_generator": "Philox", "state": inner, "buffer": [0, 0, 0, 0], "buffer_pos": 4,
             "has_uint32": 0, "uinteger": 0})


def _reset_generator(held: tuple, key_ints: list, event: int) -> np.random.Generator:
    """The generator of :func:`_reusable_generator` set to the key ``key_ints`` and the counter of ``event``."""
    generator, bit_generator, inner, state = held
    # setting the state copies its values (every field, the buffer emptied): only key and counter change
    inner["key"] = key_ints
    inner["counter"][2] = int(event)
    bit_generator.state = state
    return generator


def derived_seed(seed: int, purpose: str, *indices: int) -> int:
    """The seed of one of several independent runs of a job (a trajectory, a sweep point).

    A hash of the job's seed, a purpose and the run's indices: the same on
    every rank, independent between runs.

    Examples:
        >>> derived_seed(1, "dqc", 0) == derived_seed(1, "dqc", 0), derived_seed(1, "dqc", 0) != derived_seed(1, "dqc", 1)
        (True, True)
    """
    word = np.random.SeedSequence([int(seed), purpose_id(purpose), *map(int, indices)]).generate_state(1, np.uint64)[0]
    return int(word) >> 1
