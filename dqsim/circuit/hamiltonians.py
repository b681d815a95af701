"""Spin chains as Pauli sums, their Trotter circuits, and exact evolution for small chains.

Two models on a chain of ``N`` sites (``"open"``: bonds ``(i, i+1)``;
``"periodic"``: a ring, with the bond ``(N-1, 0)`` added, N >= 3):

* transverse-field Ising (``"tfim"``): ``H = −J Σ Z_i Z_j − h Σ X_i``;
* Heisenberg XXZ (``"xxz"``): ``H = J Σ (X_i X_j + Y_i Y_j + Δ Z_i Z_j) + h Σ Z_i``.

``X``, ``Y``, ``Z`` are Pauli matrices (eigenvalues ±1), not spin operators
``S = σ/2``: a chain written in spin operators, ``H = J' Σ S_i·S_j + h' Σ S^z_i``,
is ``J = J'/4``, ``h = h'/2`` here, and ``"tfim"``'s ``J > 0`` is ferromagnetic
while ``"xxz"``'s ``J > 0`` is antiferromagnetic (signs as written above).

Terms are ``(coefficient, letters, sites)`` tuples, as
:func:`dqsim.circuit.pauli.parse_pauli_sum` returns them and as
:meth:`dqsim.state.sharded.ShardedState.expectation` takes them.

**Trotter circuits.** The terms fall into groups of mutually commuting
Pauli strings of one kind (all ``X``, all ``ZZ``, ...), so each group's
exponential is exact as a product of rotations: ``exp(−i c P dt)`` is the
rotation ``r<p>(2 c dt)`` with the convention ``rzz(θ) = exp(−iθ/2 Z⊗Z)``,
``rx(θ) = exp(−iθ/2 X)`` (Nielsen & Chuang §4.2). With groups
``H = H_1 + … + H_m`` and ``dt = t / steps``:

* first order (Lie–Trotter): ``U(dt) = e^{−iH_m dt} ⋯ e^{−iH_1 dt}``
  (``H_1`` acts first), global error O(dt);
* second order (Strang): ``U(dt) = e^{−iH_1 dt/2} ⋯ e^{−iH_{m−1} dt/2}
  e^{−iH_m dt} e^{−iH_{m−1} dt/2} ⋯ e^{−iH_1 dt/2}``, global error O(dt²);
  the half steps of ``H_1`` between two steps are merged into one
  (``e^{−iH_1 dt/2} e^{−iH_1 dt/2} = e^{−iH_1 dt}``, exact).

**Groupings** (:data:`GROUPINGS`, :meth:`SpinModel.term_groups`). ``"pauli"``
(the default) groups the terms by Pauli kind: ``"tfim"``: ``[X field, ZZ
bonds]``; ``"xxz"``: ``[XX bonds, YY bonds, ZZ bonds + Z field]``. These
``"xxz"`` groups do not each commute with ``M = Σ Z_i`` (only ``XX + YY`` of
one bond does), so that circuit conserves the total magnetisation only up to
the product formula's error, although ``H`` conserves it
(``bench/review_trotter_physics.py``, check ``conservation``). ``"bond"``
(``"xxz"`` only) groups by bond instead: each bond's
``h_b = J (X X + Y Y + Δ Z Z)`` is one two-qubit block
``exp(−i h_b dt) = rxx(2J dt) · ryy(2J dt) · rzz(2JΔ dt)`` (exact: the three
Pauli products of one pair commute with each other), and ``[h_b, Z_i + Z_j] = 0``
(``XX + YY = 2(σ⁺σ⁻ + σ⁻σ⁺)`` moves a flipped pair's spin, ``ZZ`` is diagonal),
so every block, and the field ``h Σ Z_i``, conserves ``M`` exactly (to
rounding), at any ``dt``. Bonds that share no site commute, so the bonds go
in layers (:meth:`SpinModel.bond_layers`): the even bonds ``(i, i+1)``, ``i``
even, the odd ones, and on a ring of odd ``N`` a third layer, the closing bond
``(N−1, 0)`` (it shares site 0 with ``(0, 1)`` and site ``N−1`` with
``(N−2, N−1)``). The groups are ``[even, (third,) field, odd]``: in the
Strang formula the first group's half steps merge and the last one's is the
single full step, so over ``n`` steps each odd bond is ``n`` blocks and each
even bond ``n + 1`` (a half block at either end, the ``n − 1`` between
merged), its nonlocal gates (three TeleGates for a bond between QPUs: one
``cp`` per rotation, :mod:`dqsim.circuit.decompose`; two when ``Δ = 0``,
none when ``J = 0``; or, the bond in ``trotter_circuit``'s ``dense_bonds``,
one dense gate that the distributed run teleports there and back: two EPR
pairs) once per block; under order 1 each bond is one block per step. The
middle layers (the third, and the local field) take the two half steps; with
``cut_bonds`` the bond layers are reordered so that the ones with the most
bonds between QPUs sit at the ends (:func:`bond_layer_order`).

Suzuki, "General theory of fractal path integrals with applications to
many-body theories and statistical physics", J. Math. Phys. 32, 400 (1991);
Childs et al., "Theory of Trotter error with commutator scaling", Phys. Rev. X
11, 011020 (2021).

**Exact evolution** diagonalises the dense ``2^N × 2^N`` Hamiltonian
(``numpy.linalg.eigh``), for ``N <= MAX_EXACT_SITES``. Index bit ``q`` of a
state vector is site ``q`` (as :meth:`ShardedState.gather` orders it);
``|0⟩`` is spin up (``Z = +1``).

Examples:
    >>> model = SpinModel(kind="tfim", num_sites=3, J=1.0, h=0.5)
    >>> model.bonds()
    [(0, 1), (1, 2)]
    >>> model.terms()[:3]
    [(-1.0, 'ZZ', (0, 1)), (-1.0, 'ZZ', (1, 2)), (-0.5, 'X', (0,))]
    >>> trotter_circuit(model, 1.0, 2).count_gates()
    {'rx': 6, 'rzz': 4}
    >>> ring = SpinModel(kind="xxz", num_sites=4, boundary="periodic", delta=0.5, h=0.2)
    >>> trotter_circuit(ring, 1.0, 1, grouping="bond").count_gates()
    {'rxx': 4, 'ryy': 4, 'rzz': 4, 'rz': 4}
"""

from __future__ import annotations

import cmath
import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dqsim.circuit.ir import Circuit
from dqsim.errors import DqsimError

__all__ = [
    "SpinModel", "MODEL_KINDS", "BOUNDARIES", "INITIAL_STATES", "GROUPINGS", "MAX_EXACT_SITES",
    "trotter_circuit", "bond_layer_order", "xxz_block_matrix", "initial_bits", "initial_state", "hamiltonian_matrix",
    "exact_evolution",
    "ground_state_energy", "magnetization_terms", "site_magnetization_terms", "correlation_terms",
]

#: Models of :class:`SpinModel`.
MODEL_KINDS = ("tfim", "xxz")
#: Boundary conditions of :class:`SpinModel`.
BOUNDARIES = ("open", "periodic")
#: Initial product states: all spins up ``|0…0⟩``, or Néel ``|0101…⟩`` (odd sites down).
INITIAL_STATES = ("up", "neel")
#: Term groupings of the Trotter circuits (:meth:`SpinModel.term_groups`), the default first: by Pauli kind,
#: or (``"xxz"`` only) one ``XX + YY + ΔZZ`` block per bond, in layers of disjoint bonds.
GROUPINGS = ("pauli", "bond")
#: Most sites :func:`exact_evolution` and :func:`hamiltonian_matrix` accept (a dense 4096 × 4096 matrix).
MAX_EXACT_SITES = 12
#: Fewest sites of a periodic chain (two sites would count their one bond twice).
MIN_RING_SITES = 3

PauliTerm = tuple[float, str, tuple[int, ...]]


@dataclass(frozen=True, kw_only=True)
class SpinModel:
    """A spin-1/2 chain or ring.

    Attributes:
        kind: ``"tfim"`` (``H = −J Σ ZZ − h Σ X``) or ``"xxz"``
            (``H = J Σ (XX + YY + Δ ZZ) + h Σ Z``).
        num_sites: sites ``N``, >= 2 (``"periodic"``: >= 3).
        boundary: ``"open"`` (a chain) or ``"periodic"`` (a ring).
        J: coupling of neighbouring sites (any finite real).
        h: field (any finite real).
        delta: anisotropy Δ of ``"xxz"`` (any finite real; unused by ``"tfim"``).

    Raises:
        DqsimError: a value outside its range, naming the field.

    Examples:
        >>> SpinModel(kind="xxz", num_sites=3, boundary="periodic", delta=0.5).bonds()
        [(0, 1), (1, 2), (2, 0)]
        >>> SpinModel(kind="ising", num_sites=3)
        Traceback (most recent call last):
            ...
        dqsim.errors.DqsimError: SpinModel: kind must be one of 'tfim', 'xxz', got 'ising'
    """

    kind: str
    num_sites: int
    boundary: str = "open"
    J: float = 1.0
    h: float = 1.0
    delta: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise DqsimError(f"SpinModel: kind must be one of {', '.join(map(repr, MODEL_KINDS))}, "
                             f"got {self.kind!r}")
        if self.boundary not in BOUNDARIES:
            raise DqsimError(f"SpinModel: boundary must be one of {', '.join(map(repr, BOUNDARIES))}, "
                             f"got {self.boundary!r}")
        minimum = MIN_RING_SITES if self.boundary == "periodic" else 2
        if (isinstance(self.num_sites, bool) or not isinstance(self.num_sites, (int, np.integer))
                or self.num_sites < minimum):
            raise DqsimError(f"SpinModel: num_sites must be an integer >= {minimum} "
                             f"(boundary {self.boundary!r}), got {self.num_sites!r}")
        for name in ("J", "h", "delta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DqsimError(f"SpinModel: {name} must be a finite real number, got {value!r}")

    def bonds(self) -> list[tuple[int, int]]:
        """Neighbouring site pairs: ``(i, i+1)``, and ``(N−1, 0)`` on a ring."""
        pairs = [(i, i + 1) for i in range(self.num_sites - 1)]
        if self.boundary == "periodic":
            pairs.append((self.num_sites - 1, 0))
        return pairs

    def bond_layers(self) -> list[list[tuple[int, int]]]:
        """The bonds in layers of bonds that share no site: ``(i, i+1)`` with ``i`` even, then ``i`` odd, and on a
        ring of odd ``N`` a third layer, the closing bond ``(N−1, 0)``; empty layers left out.

        Examples:
            >>> SpinModel(kind="xxz", num_sites=5, boundary="periodic").bond_layers()
            [[(0, 1), (2, 3)], [(1, 2), (3, 4)], [(4, 0)]]
            >>> SpinModel(kind="xxz", num_sites=4, boundary="periodic").bond_layers()
            [[(0, 1), (2, 3)], [(1, 2), (3, 0)]]
        """
        bonds = self.bonds()
        third = [bonds.pop()] if self.boundary == "periodic" and self.num_sites % 2 else []
        layers = [[b for i, b in enumerate(bonds) if i % 2 == 0], [b for i, b in enumerate(bonds) if i % 2 == 1], third]
        return [layer for layer in layers if layer]

    def term_groups(self, grouping: str = "pauli", *, cut_bonds: Sequence[tuple[int, int]] = ()
                    ) -> list[list[PauliTerm]]:
        """The Hamiltonian as groups of commuting terms, in Trotter order (first group acts first).

        ``grouping = "pauli"``: ``"tfim"``: ``[X field, ZZ bonds]``; ``"xxz"``: ``[XX, YY, ZZ bonds + Z field]``.
        ``grouping = "bond"`` (``"xxz"`` only): ``[even bonds, (third layer,) Z field, odd bonds]``
        (:meth:`bond_layers`), each bond's ``XX``, ``YY``, ``ZZ`` terms one after the other (one block;
        see the module docstring); with ``cut_bonds`` (the bonds between QPUs) the bond layers in the order
        :func:`bond_layer_order` gives, which puts the layers with the most cut bonds where the Strang formula
        applies a layer least often. Terms with a zero coefficient are left out; empty groups too.

        Raises:
            DqsimError: an unknown ``grouping``, or ``"bond"`` for ``"tfim"``.

        Examples:
            >>> groups = SpinModel(kind="xxz", num_sites=3, delta=0.5, h=0.2).term_groups("bond")
            >>> [[(letters, sites) for _c, letters, sites in group] for group in groups][0]
            [('XX', (0, 1)), ('YY', (0, 1)), ('ZZ', (0, 1))]
            >>> [[letters for _c, letters, _s in group] for group in groups]
            [['XX', 'YY', 'ZZ'], ['Z', 'Z', 'Z'], ['XX', 'YY', 'ZZ']]
        """
        if grouping not in GROUPINGS:
            raise DqsimError(f"SpinModel.term_groups: grouping must be one of {', '.join(map(repr, GROUPINGS))}, "
                             f"got {grouping!r}")
        if grouping == "bond":
            return self._bond_groups(cut_bonds)
        n, bonds = self.num_sites, self.bonds()
        if self.kind == "tfim":
            groups = [[(-float(self.h), "X", (i,)) for i in range(n)],
                      [(-float(self.J), "ZZ", b) for b in bonds]]
        else:
            groups = [[(float(self.J), "XX", b) for b in bonds],
                      [(float(self.J), "YY", b) for b in bonds],
                      [(float(self.J * self.delta), "ZZ", b) for b in bonds]
                      + [(float(self.h), "Z", (i,)) for i in range(n)]]
        groups = [[term for term in group if term[0] != 0.0] for group in groups]
        return [group for group in groups if group]

    def _bond_groups(self, cut_bonds: Sequence[tuple[int, int]] = ()) -> list[list[PauliTerm]]:
        """The ``"bond"`` grouping of :meth:`term_groups`."""
        if self.kind != "xxz":
            raise DqsimError(f'SpinModel.term_groups: grouping "bond" is for kind "xxz" only (one XX + YY + ΔZZ '
                             f"block per bond), got kind {self.kind!r}")
        coupling, zz = float(self.J), float(self.J * self.delta)
        blocks = [[term for b in layer for term in ((coupling, "XX", b), (coupling, "YY", b), (zz, "ZZ", b))]
                  for layer in self.bond_layers()]
        field = [(float(self.h), "Z", (i,)) for i in range(self.num_sites)]
        cut = {frozenset(bond) for bond in cut_bonds}
        first, middle, last = bond_layer_order([sum(frozenset(b) in cut for b in layer)
                                                for layer in self.bond_layers()])
        # default: even, (third,) field, odd (see the module docstring)
        groups = [blocks[first], *(blocks[i] for i in middle), field, *([blocks[last]] if last is not None else [])]
        groups = [[term for term in group if term[0] != 0.0] for group in groups]
        return [group for group in groups if group]

    def terms(self) -> list[PauliTerm]:
        """All terms of ``H`` (two-site terms first), for energies and :func:`hamiltonian_matrix`."""
        groups = self.term_groups()
        two = [t for g in groups for t in g if len(t[1]) == 2]
        one = [t for g in groups for t in g if len(t[1]) == 1]
        return two + one

    def describe(self) -> str:
        """The Hamiltonian in words, e.g. ``"TFIM H = -J ΣZZ - h ΣX (J=1, h=0.5), 8-site open chain"``."""
        shape = f"{self.num_sites}-site {'open chain' if self.boundary == 'open' else 'ring'}"
        if self.kind == "tfim":
            return f"TFIM H = -J ΣZZ - h ΣX (J={self.J:g}, h={self.h:g}), {shape}"
        return f"XXZ H = J Σ(XX+YY+ΔZZ) + h ΣZ (J={self.J:g}, Δ={self.delta:g}, h={self.h:g}), {shape}"


def _check_count(where: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DqsimError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def initial_bits(model: SpinModel, initial: str = "up") -> list[int]:
    """Computational-basis bit of each site in the initial state (0 = spin up).

    Examples:
        >>> initial_bits(SpinModel(kind="xxz", num_sites=4), "neel")
        [0, 1, 0, 1]
    """
    if initial not in INITIAL_STATES:
        raise DqsimError(f"initial_bits: initial must be one of {', '.join(map(repr, INITIAL_STATES))}, "
                         f"got {initial!r}")
    return [site % 2 if initial == "neel" else 0 for site in range(model.num_sites)]


def bond_layer_order(cut_counts: Sequence[int]) -> tuple[int, tuple[int, ...], int | None]:
    """Where the ``"bond"`` grouping puts each bond layer: ``(first, middle, last)``, indices into
    :meth:`SpinModel.bond_layers` (``last`` None where there is one layer), from each layer's number of bonds
    between QPUs (``cut_counts``); the field goes after the middle layers.

    The Strang formula applies, over ``n`` steps, the first group ``n + 1`` times (its half steps between
    steps merge; continued mode adds one per point), every middle group ``2n`` times (two half steps a step)
    and the last ``n`` times. A cut bond's block costs the same pairs wherever it is (three TeleGates, or two
    pairs teleported: :func:`trotter_circuit`'s ``dense_bonds``), so the order that minimises
    ``(cut_first + 2·Σ cut_middle + cut_last, cut_first)`` (pairs per step, then the extra ones) takes the
    fewest pairs. On a ring of odd length split in two this moves the closing bond out of the middle when an
    uncut layer can take its place (a 5-site ring split 3 + 2: two cut blocks a step, not three;
    ``bench/results/trotter-cut-blocks-vm-20261207p.md``). The default order
    ``(0, (2,), 1)`` (even, closing bond of an odd ring, odd) is kept wherever no other takes fewer.

    Examples:
        >>> bond_layer_order([1, 0, 1]), bond_layer_order([0, 0, 0]), bond_layer_order([2, 0])
        ((0, (1,), 2), (0, (2,), 1), (1, (), 0))
        >>> bond_layer_order([3])
        (0, (), None)
    """
    count = len(cut_counts)
    default = (0, tuple(range(2, count)), 1 if count > 1 else None)
    if count < 2:
        return default

    def cost(order: tuple[int, tuple[int, ...], int]) -> tuple[int, int]:
        first, middle, last = order
        return (cut_counts[first] + 2 * sum(cut_counts[i] for i in middle) + cut_counts[last], cut_counts[first])
    orders = [default] + [(p[0], tuple(p[2:]), p[1]) for p in itertools.permutations(range(count))]
    return min(orders, key=cost)  # the first of the cheapest: the default on a tie


def xxz_block_matrix(xx: float, yy: float, zz: float) -> np.ndarray:
    """``exp(−i (xx X⊗X + yy Y⊗Y + zz Z⊗Z))`` as a 4 × 4 matrix, little-endian (index ``b0 + 2 b1``; symmetric in
    the two qubits): one bond's block of the ``"bond"`` grouping for ``dt`` with ``xx = yy = J dt``, ``zz = JΔ dt``.

    The three products commute; on ``{|00⟩, |11⟩}`` the exponent is ``zz + (xx − yy) σx`` (``Y⊗Y|00⟩ = −|11⟩``),
    on ``{|01⟩, |10⟩}`` it is ``−zz + (xx + yy) σx``, so the block is
    ``e^{−i zz}(cos(xx − yy) − i sin(xx − yy) σx) ⊕ e^{i zz}(cos(xx + yy) − i sin(xx + yy) σx)``, equal to
    ``rxx(2 xx) · ryy(2 yy) · rzz(2 zz)`` (``tests/test_trotter_cut_blocks.py``, to 1e-15).

    Examples:
        >>> m = xxz_block_matrix(np.pi / 4, np.pi / 4, 0.0)   # an iSWAP up to phases: |01⟩ → −i|10⟩
        >>> np.round(m[:, 1], 12).tolist()
        [0j, 0j, -1j, 0j]
    """
    matrix = np.zeros((4, 4), dtype=np.complex128)
    for (i, j), phase, angle in (((0, 3), cmath.exp(-1j * zz), xx - yy), ((1, 2), cmath.exp(1j * zz), xx + yy)):
        matrix[i, i] = matrix[j, j] = phase * math.cos(angle)
        matrix[i, j] = matrix[j, i] = -1j * phase * math.sin(angle)
    return matrix


def _rotation(circuit: Circuit, term: PauliTerm, dt: float) -> None:
    """Append ``exp(−i c P dt)`` for the term ``(c, P, sites)``: ``r<p>(2 c dt)``."""
    coefficient, letters, sites = term
    circuit.gate(f"r{letters.lower()}", *sites, params=[2.0 * coefficient * dt])


def _evolve_group(circuit: Circuit, group: Sequence[PauliTerm], dt: float, dense_bonds: frozenset) -> None:
    """Append ``exp(−i H_group dt)``: a rotation per term, except that the terms of a bond in ``dense_bonds``
    (its block's ``XX``, ``YY``, ``ZZ``) are one dense ``unitary`` (:func:`xxz_block_matrix`), where the first
    of them stood."""
    by_bond: dict[tuple[int, ...], dict[str, float]] = {}
    for coefficient, letters, sites in group:
        if len(sites) == 2 and sites in dense_bonds:
            by_bond.setdefault(sites, {})[letters] = coefficient
    for term in group:
        sites = term[2]
        if sites not in by_bond:
            _rotation(circuit, term, dt)
        elif by_bond[sites]:
            terms = by_bond[sites]
            circuit.unitary(xxz_block_matrix(*(terms.get(p, 0.0) * dt for p in ("XX", "YY", "ZZ"))), *sites)
            by_bond[sites] = {}  # written: its other terms are in it


def trotter_circuit(model: SpinModel, time: float, steps: int, *, order: int = 1,
                    initial: str = "up", grouping: str = "pauli", cut_bonds: Sequence[tuple[int, int]] = (),
                    dense_bonds: Sequence[tuple[int, int]] = ()) -> Circuit:
    """The circuit preparing the initial state and approximating ``e^{−iHt}`` with Trotter steps.

    See the module docstring for the product formulas. No measurements.

    Args:
        model: the spin chain.
        time: evolution time ``t`` (units of 1/J), finite, >= 0.
        steps: Trotter steps, >= 0 (0: only the initial state); ``dt = t / steps``.
        order: 1 (Lie–Trotter) or 2 (Strang splitting).
        initial: ``"up"`` (``|0…0⟩``) or ``"neel"`` (``x`` on the odd sites).
        grouping: ``"pauli"`` (default) or ``"bond"`` (``"xxz"`` only: one ``rxx``, ``ryy``, ``rzz``
            block per bond, which conserves ``Σ Z_i``); see :data:`GROUPINGS` and the module docstring.
        cut_bonds: ``"bond"`` grouping, order 2: the bonds between QPUs, which set the order of the bond
            layers (:func:`bond_layer_order`); order 1 applies every layer once a step whatever the order,
            and keeps the default one. ``()`` (default): the default order.
        dense_bonds: ``"bond"`` grouping: bonds (as :meth:`SpinModel.bonds` writes them) whose block is one
            dense two-qubit ``unitary`` (:func:`xxz_block_matrix`) instead of three rotations; between QPUs
            the distributed run teleports one of its qubits there and back (two EPR pairs, not three TeleGates:
            :func:`dqsim.scenarios.dqc.with_teleported_gates`). The same operator, to rounding.

    Returns:
        A circuit on ``model.num_sites`` qubits (qubit ``i`` = site ``i``) of
        ``rx``/``rz``/``rxx``/``ryy``/``rzz`` gates (and the ``dense_bonds``' two-qubit ``unitary`` gates)
        after the preparation.

    Raises:
        DqsimError: a bad ``time``, ``steps``, ``order``, ``initial`` or ``grouping``.

    Examples:
        >>> m = SpinModel(kind="xxz", num_sites=2, h=0.0)
        >>> [g.name for g in trotter_circuit(m, 0.5, 1, order=2, initial="neel").gates()]
        ['x', 'rxx', 'ryy', 'rzz', 'ryy', 'rxx']
        >>> [g.name for g in trotter_circuit(m, 0.5, 1, order=2, initial="neel", grouping="bond").gates()]
        ['x', 'rxx', 'ryy', 'rzz']
        >>> ring = SpinModel(kind="xxz", num_sites=5, boundary="periodic", delta=0.5, h=0.0)
        >>> cut = [(2, 3), (4, 0)]   # sites 0-2 on one QPU, 3-4 on another
        >>> gates = trotter_circuit(ring, 1.0, 1, order=2, grouping="bond", cut_bonds=cut, dense_bonds=cut).gates()
        >>> [g.qubits for g in gates if g.name == "unitary"], len(gates)   # even, odd, field (0), closing, odd, even
        ([(2, 3), (4, 0), (2, 3)], 21)
    """
    where = "trotter_circuit"
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not (0.0 <= time < math.inf):
        raise DqsimError(f"{where}: time must be a finite number >= 0, got {time!r}")
    steps = _check_count(where, "steps", steps, 0)
    if order not in (1, 2) or isinstance(order, bool):
        raise DqsimError(f"{where}: order must be 1 or 2, got {order!r}")
    groups = model.term_groups(grouping, cut_bonds=cut_bonds if order == 2 else ())
    dense = frozenset(tuple(bond) for bond in dense_bonds)
    name = f"{model.kind}_trotter{order}_{steps}" + ("" if grouping == "pauli" else f"_{grouping}")
    circuit = Circuit(model.num_sites, name=name)
    for site, bit in enumerate(initial_bits(model, initial)):
        if bit:
            circuit.gate("x", site)
    if steps == 0 or time == 0.0:
        return circuit
    dt = float(time) / steps
    if order == 1:
        for _ in range(steps):
            for group in groups:
                _evolve_group(circuit, group, dt, dense)
        return circuit
    # Strang: half steps of groups 0..m-2 around a full step of the last group;
    # the outer group's half steps between neighbouring Trotter steps are merged.
    inner = groups[:-1]
    for step in range(steps):
        if inner:
            _evolve_group(circuit, groups[0], dt / 2 if step == 0 else dt, dense)
        for group in inner[1:]:
            _evolve_group(circuit, group, dt / 2, dense)
        _evolve_group(circuit, groups[-1], dt, dense)
        for group in reversed(inner[1:]):
            _evolve_group(circuit, group, dt / 2, dense)
    if inner:
        _evolve_group(circuit, groups[0], dt / 2, dense)
    return circuit


def _check_exact_size(where: str, model: SpinModel) -> None:
    if model.num_sites > MAX_EXACT_SITES:
        raise DqsimError(f"{where}: exact diagonalisation is limited to num_sites <= {MAX_EXACT_SITES} "
                         f"(a dense 2^N × 2^N matrix), got num_sites = {model.num_sites}; "
                         "compare with the noiseless Trotter evolution instead")


def hamiltonian_matrix(model: SpinModel) -> np.ndarray:
    """The dense Hamiltonian, ``2^N × 2^N``, index bit ``q`` = site ``q`` (real: both models are real).

    ``P|k⟩ = i^{#Y} (−1)^{popcount(k & (Y|Z bits))} |k ⊕ (X|Y bits)⟩`` for each term.

    Raises:
        DqsimError: ``num_sites > MAX_EXACT_SITES``.

    Examples:
        >>> hamiltonian_matrix(SpinModel(kind="tfim", num_sites=2, J=1.0, h=0.0)).diagonal().tolist()
        [-1.0, 1.0, 1.0, -1.0]
    """
    _check_exact_size("hamiltonian_matrix", model)
    dim = 1 << model.num_sites
    index = np.arange(dim, dtype=np.int64)
    matrix = np.zeros((dim, dim), dtype=np.complex128)
    for coefficient, letters, sites in model.terms():
        flip = sum(1 << q for p, q in zip(letters, sites) if p in "XY")
        sign_mask = sum(1 << q for p, q in zip(letters, sites) if p in "YZ")
        parity = np.zeros(dim, dtype=np.int64)
        masked = index & sign_mask
        for q in range(model.num_sites):
            parity ^= (masked >> q) & 1
        phase = (1j) ** letters.count("Y")
        matrix[index ^ flip, index] += coefficient * phase * (1.0 - 2.0 * parity)
    if np.abs(matrix.imag).max(initial=0.0) == 0.0:
        return np.ascontiguousarray(matrix.real)
    return matrix


def initial_state(model: SpinModel, initial: str = "up") -> np.ndarray:
    """The initial product state as a dense vector (complex128, length ``2^N``)."""
    _check_exact_size("initial_state", model)
    vector = np.zeros(1 << model.num_sites, dtype=np.complex128)
    vector[sum(bit << q for q, bit in enumerate(initial_bits(model, initial)))] = 1.0
    return vector


def exact_evolution(model: SpinModel, psi0: np.ndarray | str, times: Sequence[float]) -> np.ndarray:
    """``e^{−iHt}|ψ0⟩`` for each ``t`` in ``times`` by dense diagonalisation (``numpy.linalg.eigh``).

    Args:
        model: the spin chain, ``num_sites <= MAX_EXACT_SITES``.
        psi0: the initial state (length ``2^N``, normalised), or ``"up"``/``"neel"``.
        times: evolution times (any finite reals).

    Returns:
        complex128 array of shape ``(len(times), 2^N)``.

    Raises:
        DqsimError: too many sites, or ``psi0`` of the wrong length.

    Examples:
        >>> m = SpinModel(kind="tfim", num_sites=2, J=0.0, h=1.0)
        >>> psi = exact_evolution(m, "up", [math.pi / 4])   # exp(+iπ/4 X) on each spin
        >>> np.round(np.abs(psi[0]) ** 2, 6).tolist()
        [0.25, 0.25, 0.25, 0.25]
    """
    _check_exact_size("exact_evolution", model)
    vector = initial_state(model, psi0) if isinstance(psi0, str) else np.asarray(psi0, dtype=np.complex128)
    if vector.shape != (1 << model.num_sites,):
        raise DqsimError(f"exact_evolution: psi0 must have 2^{model.num_sites} = {1 << model.num_sites} "
                         f"amplitudes, got shape {vector.shape}")
    energies, vectors = np.linalg.eigh(hamiltonian_matrix(model))
    weights = vectors.conj().T @ vector
    times = np.asarray(list(times), dtype=np.float64)
    phases = np.exp(-1j * np.outer(times, energies))
    return (phases * weights) @ vectors.T


def ground_state_energy(model: SpinModel) -> float:
    """Lowest eigenvalue of ``H`` (``numpy.linalg.eigvalsh``; ``num_sites <= MAX_EXACT_SITES``).

    Examples:
        >>> round(ground_state_energy(SpinModel(kind="tfim", num_sites=4, boundary="periodic")), 10)
        -5.2262518595
    """
    _check_exact_size("ground_state_energy", model)
    return float(np.linalg.eigvalsh(hamiltonian_matrix(model))[0])


def site_magnetization_terms(model: SpinModel) -> list[list[PauliTerm]]:
    """``⟨Z_i⟩`` of each site, one Pauli sum per site."""
    return [[(1.0, "Z", (i,))] for i in range(model.num_sites)]


def magnetization_terms(model: SpinModel) -> list[PauliTerm]:
    """The mean magnetisation ``(1/N) Σ Z_i``."""
    return [(1.0 / model.num_sites, "Z", (i,)) for i in range(model.num_sites)]


def correlation_terms(model: SpinModel) -> list[PauliTerm]:
    """The nearest-neighbour correlator averaged over the bonds, ``(1/#bonds) Σ Z_i Z_j``."""
    bonds = model.bonds()
    return [(1.0 / len(bonds), "ZZ", b) for b in bonds]
