"""Many shots from one final state: drawn in chunks, counted as they come.

A job may ask for up to 10^8 shots. Holding them all (and the arrays the
inverse-CDF draw makes on the way) took about 70 bytes per shot: 7 GB at
10^8. Here the shots of a final state are drawn a chunk at a time
(:meth:`~dqsim.state.sharded.ShardedState.sample_chunks`, the same numbers
as one draw of all of them) and each chunk goes into an
:class:`OutcomeHistogram`, whose memory grows with the distinct outcomes, not
with the shots; a caller keeps the shots themselves only where the output
stores them (``[simulation].store_shots``, 8 bytes a shot).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from dqsim.circuit.ir import Circuit, Measure

#: Shots drawn at once from a final state (:func:`chunk_shots_for`): ~50 MiB of arrays while a chunk is drawn.
SHOTS_PER_CHUNK = 2 ** 20
#: A chunk has at least this share of the register's local amplitudes in shots (:func:`chunk_shots_for`).
CHUNK_PER_AMPLITUDES = 32


def chunk_shots_for(state) -> int:
    """Shots per chunk when sampling ``state``: :data:`SHOTS_PER_CHUNK`, or more on a large register.

    Each chunk reads again the pieces of the register its shots land in (the
    inverse CDF within a piece is not kept: it would take as much memory
    as the register), so on a register of more than 2^25 local amplitudes a
    chunk takes ``amplitudes / CHUNK_PER_AMPLITUDES`` shots: ``S`` shots then
    read the register at most ``1 + 32·S / amplitudes`` times, and a chunk's
    arrays (~50 bytes a shot) stay below 2 bytes per amplitude.

    Examples:
        >>> class Tiny: amplitudes = np.zeros(8)
        >>> chunk_shots_for(Tiny()) == SHOTS_PER_CHUNK
        True
    """
    return max(SHOTS_PER_CHUNK, state.amplitudes.size // CHUNK_PER_AMPLITUDES)


def terminal_chunks(state, circuit: Circuit, shots: int, qubit_of=None, *,
                    chunk_shots: int) -> tuple[Iterator[np.ndarray], int]:
    """Shots of a circuit with terminal measurements from its final ``state``, ``chunk_shots`` at a time (collective).

    Returns ``(chunks, width)``: classical bit ``c`` is bit ``c`` of an
    outcome; without measurements every qubit is reported (bit ``q`` =
    qubit ``q``). ``qubit_of[q]`` is the register qubit holding circuit
    qubit ``q`` (default: the same index). The chunks joined are the
    outcomes of one draw of all ``shots``
    (:meth:`~dqsim.state.sharded.ShardedState.sample_chunks`); every rank
    takes them in order.
    """
    measured = [ins for ins in circuit if isinstance(ins, Measure)]
    if not measured:
        qubits = None if qubit_of is None else list(qubit_of)
        return state.sample_chunks(shots, qubits, chunk_shots=chunk_shots), circuit.num_qubits
    raw = state.sample_chunks(shots, [m.qubit if qubit_of is None else qubit_of[m.qubit] for m in measured],
                              chunk_shots=chunk_shots)

    def outcomes() -> Iterator[np.ndarray]:
        for chunk in raw:
            out = np.zeros(chunk.size, dtype=np.int64)
            for j, m in enumerate(measured):  # a classical bit written twice keeps the last outcome (OpenQASM)
                out = (out & ~np.int64(1 << m.clbit)) | (((chunk >> j) & 1) << m.clbit)
            yield out

    return outcomes(), circuit.num_clbits


class OutcomeHistogram:
    """How often each outcome (an int64, bit ``c`` = classical bit ``c``) was drawn, added chunk by chunk.

    Its memory grows with the number of distinct outcomes (at most
    ``2^width``), not with the shots.

    Examples:
        >>> h = OutcomeHistogram()
        >>> h.add(np.array([3, 1, 3])); h.add(np.array([1, 1]))
        >>> h.counts(2), h.num_shots
        ({'01': 3, '11': 2}, 5)
    """

    def __init__(self) -> None:
        self.values = np.zeros(0, dtype=np.int64)
        self.numbers = np.zeros(0, dtype=np.int64)

    @property
    def num_shots(self) -> int:
        """Shots added so far."""
        return int(self.numbers.sum())

    def add(self, outcomes: np.ndarray) -> None:
        """Count ``outcomes`` in."""
        values, numbers = np.unique(outcomes, return_counts=True)
        if not self.values.size:
            self.values, self.numbers = values.astype(np.int64), numbers.astype(np.int64)
            return
        merged, where = np.unique(np.concatenate([self.values, values]), return_inverse=True)
        totals = np.zeros(merged.size, dtype=np.int64)
        np.add.at(totals, where, np.concatenate([self.numbers, numbers]))
        self.values, self.numbers = merged, totals

    def counts(self, width: int) -> dict[str, int]:
        """The outcomes as ``width``-bit strings (bit 0 rightmost) with their counts, most frequent first
        (ties: the smaller outcome first)."""
        order = np.lexsort((self.values, -self.numbers))
        return {format(int(self.values[i]), f"0{width}b"): int(self.numbers[i]) for i in order}

    def by_outcome(self) -> dict[int, int]:
        """``{outcome: count}``, outcomes ascending."""
        return {int(v): int(c) for v, c in zip(self.values, self.numbers)}


def count_chunks(chunks: Iterable[np.ndarray], width: int, shots: int, *, keep_shots: bool = False,
                 transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
                 between: Callable[[], None] | None = None,
                 on_shots: Callable[[int, int], None] | None = None) -> tuple[dict[str, int], np.ndarray | None]:
    """The counts of ``shots`` outcomes that come in ``chunks`` (collective where taking a chunk is).

    Each chunk, passed through ``transform(chunk, first_shot)`` (readout
    errors) where given, is added to an :class:`OutcomeHistogram` and, with
    ``keep_shots``, kept. ``between()`` is called between two chunks (a
    stop check), and ``on_shots(done, shots)`` before the first chunk and
    after each (a caller passes it where the shots are more than one chunk).

    Returns:
        ``(counts, outcomes)``: ``width``-bit strings with their counts, most
        frequent first (:meth:`OutcomeHistogram.counts`), and every outcome in
        order (``None`` unless ``keep_shots``).

    Examples:
        >>> seen = []
        >>> count_chunks(iter([np.array([1, 2]), np.array([2])]), 2, 3, keep_shots=True,
        ...              on_shots=lambda done, total: seen.append(done))
        ({'10': 2, '01': 1}, array([1, 2, 2]))
        >>> seen
        [0, 2, 3]
    """
    histogram, kept, done = OutcomeHistogram(), [], 0
    if on_shots is not None:
        on_shots(0, shots)
    for chunk in chunks:
        if transform is not None:
            chunk = transform(chunk, done)
        histogram.add(chunk)
        if keep_shots:
            kept.append(chunk)
        done += chunk.size
        if done < shots and between is not None:
            between()
        if on_shots is not None:
            on_shots(done, shots)
    outcomes = None
    if keep_shots:
        outcomes = kept[0] if len(kept) == 1 else np.concatenate([np.zeros(0, dtype=np.int64), *kept])
    return histogram.counts(width), outcomes
