"""Compile the numba CPU kernels into numba's on-disk cache ahead of a run: where the cache is, and the kernels.

The kernels of :mod:`dqsim.backend.fast` and :mod:`dqsim.backend.qkd_kernels`
are ``njit(cache=True)``: a process compiles each on its first call (some 6 s
of CPU for a circuit job's kernels on the dev VM) and writes it to numba's
cache, where the next process loads it (0.3 s). On a fresh install every rank
of the first job compiles the same kernels at once (and numba's processes race
on the cache's index files). ``dqsim warmup`` (:mod:`dqsim.cli.warmup`) compiles
them once, from one process, before the ranks start.

numba keeps the cache (numba's ``caching`` module, ``_CacheImpl``'s locators) in the first of:
``$NUMBA_CACHE_DIR`` (when set and writable), ``__pycache__`` beside the
installed sources (when writable), the user's cache folder
(``~/.cache/numba``). Its entries are keyed by the source file's contents,
the argument types and the CPU (name and features): a cache written on a
login node with another CPU does not serve the compute nodes, so the warm-up
runs where the ranks run (the SLURM scripts run it inside the job).

This module is the backend layer's part: the cache's folder, and calls that
compile every kernel of :class:`dqsim.backend.fast.NumbaKernels` (and
:func:`dqsim.backend.fast.cross_swap`) through the dispatch the state uses,
on a small shard, in a given precision.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from dqsim.backend import Backend, fast, ldpc_kernels, qkd_kernels

#: Qubits of the shard the state kernels are compiled on (every dispatch branch fits: 6-qubit blocks, bits >= 3).
WARM_UP_QUBITS = 10
#: The precisions the state kernels exist in (the dtype of the shard).
PRECISIONS = {"complex128": np.complex128, "complex64": np.complex64}


def dispatchers() -> dict:
    """``{"module.name": dispatcher}`` of every cached numba kernel of :mod:`dqsim.backend.fast`,
    :mod:`dqsim.backend.qkd_kernels` and :mod:`dqsim.backend.ldpc_kernels` (empty without numba)."""
    if not fast.has_cross_swap():  # numba is missing
        return {}
    from numba.core.registry import CPUDispatcher  # noqa: PLC0415 (only the backend imports numba)

    found = {}
    for module in (fast, qkd_kernels, ldpc_kernels):
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and getattr(value, "_cache", None) is not None \
                    and type(value._cache).__name__ == "FunctionCache":
                found[f"{module.__name__.rsplit('.', 1)[-1]}.{name}"] = value
    return found


def cache_counts() -> tuple[int, int]:
    """``(loaded, compiled)``: kernel versions this process has loaded from numba's cache and compiled (cache
    misses) so far, summed over :func:`dispatchers`."""
    loaded = compiled = 0
    for dispatcher in dispatchers().values():
        loaded += sum(dispatcher.stats.cache_hits.values())
        compiled += sum(dispatcher.stats.cache_misses.values())
    return loaded, compiled


def cached_versions() -> dict[str, list[tuple]]:
    """``{"module.name": [signature, ...]}``: the kernel versions numba's cache holds for this process, per
    kernel of :func:`dispatchers` (empty lists on a cold cache; ``{}`` without numba).

    A version counts where numba would load it here: its index entry is for this numba version, this source file
    (numba's stamp of it), this CPU (name and features) and this function's bytecode, as numba's
    ``FunctionCache`` keys it (its ``_index_key``; numba 0.5x-0.6x: numba has no public call for it). Reading
    the index files compiles nothing.
    """
    found = {}
    for name, dispatcher in dispatchers().items():
        cache = dispatcher._cache
        codegen = dispatcher.targetctx.codegen()
        index = cache._cache_file._load_index()  # {} where missing, of another numba or of an older source
        found[name] = [key[0] for key in index if key == cache._index_key(key[0], codegen)]
    return found


def cache_location() -> tuple[str | None, str]:
    """Where numba caches dqsim's kernels in this process: ``(folder, how numba chose it)``; ``(None, why)``
    without numba.

    The folder of :func:`dqsim.backend.fast.cross_swap`'s kernel, where numba keeps every kernel of
    :mod:`dqsim.backend` (one folder per source folder; numba has no public call for it: its
    dispatcher's ``_cache``).
    """
    found = dispatchers()
    if not found:
        return None, "numba is not installed (the generic NumPy kernels need no compiling)"
    cache = found["fast._numba_cross_swap"]._cache
    how = {"UserProvidedCacheLocator": "NUMBA_CACHE_DIR", "InTreeCacheLocator": "beside the installed sources",
           "UserWideCacheLocator": "the user's cache folder"}
    name = type(cache._impl.locator).__name__.lstrip("_")
    return cache.cache_path, how.get(name, name)


def _writable_problem(folder: str) -> str | None:
    """Why ``folder`` cannot take cache files (made if missing), or ``None`` when it can."""
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def cache_problem(environ=None) -> str | None:
    """One line when numba's cache cannot take the warm-up's kernels where the user asked, else ``None``.

    A ``NUMBA_CACHE_DIR`` that cannot be written is a problem (numba then caches elsewhere, or nowhere,
    without a word); so is a chosen folder that stopped being writable.
    """
    environ = os.environ if environ is None else environ
    folder, how = cache_location()
    if folder is None:
        return None
    wanted = environ.get("NUMBA_CACHE_DIR", "")
    fix = ("point NUMBA_CACHE_DIR at a folder you can write that every node sees (e.g. export "
           "NUMBA_CACHE_DIR=$HOME/.cache/dqsim-numba, or a project folder on the shared file system) and "
           "warm up again")
    if wanted and how != "NUMBA_CACHE_DIR":
        reason = _writable_problem(wanted) or "not usable"
        return (f"NUMBA_CACHE_DIR={wanted} cannot be written ({reason}): numba would cache the kernels in "
                f"{folder} ({how}) instead; {fix}")
    reason = _writable_problem(folder)
    if reason is not None:
        return f"numba's cache folder {folder} ({how}) cannot be written ({reason}); {fix}"
    return None


def _unitary(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``dim x dim`` unitary (QR of a complex Gaussian matrix), complex128."""
    q, _r = np.linalg.qr(rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim)))
    return q


def compile_state_kernels(precision: str) -> None:
    """Compile (or load from numba's cache) every kernel of :class:`dqsim.backend.fast.NumbaKernels` in
    ``precision`` (``complex128`` or ``complex64``), and :func:`dqsim.backend.fast.cross_swap`.

    Each is called through the same dispatch a run uses, on a shard of :data:`WARM_UP_QUBITS` qubits made
    as a run makes its shards (:meth:`dqsim.backend.Backend.zeros`), so the argument types, and with them
    the cache entries, are a run's. Nothing when numba is missing or ``DQSIM_FAST_KERNELS=0``.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kernels = fast.numba_kernels()
    if kernels is None:
        return
    rng = np.random.default_rng(0)
    dtype = PRECISIONS[precision]
    psi = Backend("numpy", np).zeros(1 << WARM_UP_QUBITS, dtype)
    psi[0] = 1.0
    u2, u4 = _unitary(2, rng), _unitary(4, rng)
    kernels.dense1(psi, 0, u2, 0)                    # register blocks, one segment
    kernels.dense1(psi, 5, u2, 0b1)                  # register blocks, two segments
    kernels.dense1(psi, 5, u2, 0)                    # runs of pairs
    kernels.dense2(psi, 0, 1, u4, 0)                 # register blocks
    kernels.dense2(psi, 4, 6, u4, 0)                 # runs of groups
    kernels.dense(psi, [0, 1, 2], _unitary(8, rng), 0)      # 3-qubit block on bits 0-2
    kernels.dense(psi, [0, 4, 6], _unitary(8, rng), 0)      # 3-qubit segment blocks
    kernels.dense(psi, [3, 4, 5, 6], _unitary(16, rng), 0)  # planar, k = 4
    kernels.dense(psi, [3, 4, 5, 6, 7], _unitary(32, rng), 0)  # planar, k = 5
    kernels.dense(psi, [3, 4, 5, 6, 7, 8], _unitary(64, rng), 0)  # tiles
    kernels.diagonal(psi, [1, 3], np.exp(1j * rng.normal(size=4)), 0b100000)
    kernels.diagonal_pass(psi, [0, 5], np.exp(1j * rng.normal(size=4)))
    swap = np.array([0, 2, 1, 3])
    kernels.permute(psi, [0, 1], swap, 0)            # blocks of four amplitudes (bits 0 and 1)
    kernels.permute(psi, [4], np.array([1, 0]), 0)   # x off the lowest bits: runs
    kernels.permute(psi, [4, 5], swap, 0)            # tiles
    kernels.bit_weights(psi, 3)                      # a measurement's weights ...
    kernels.collapse(psi, [3], [0], 1.0)             # ... and its collapse (psi[0] = 1 stays)
    kernels.collapse_reset(psi, 3, 0, 1.0)           # a leaving network qubit's measurement (dqc)
    other = Backend("numpy", np).zeros(psi.size, dtype)
    half = psi.size >> 1
    fast.cross_swap(psi, other, [WARM_UP_QUBITS - 1], 0, half, 0, half >> 1)


def compile_carryless_product() -> None:
    """Compile (or load) :func:`dqsim.backend.qkd_kernels.carryless_product`'s kernel on two one-word
    polynomials; nothing where the CPU or the settings leave it out (the FFT serves there)."""
    if qkd_kernels.has_carryless_product():
        qkd_kernels.carryless_product(np.array([3], np.uint64), np.array([3], np.uint64))


def compile_toeplitz_rows() -> None:
    """Compile (or load) :func:`dqsim.backend.qkd_kernels.toeplitz_rows`'s kernel (the verification hash) on a
    64-bit key; nothing without numba (the NumPy rows serve there)."""
    if qkd_kernels.has_toeplitz_rows():
        qkd_kernels.toeplitz_rows(np.ones(64, np.uint8), np.ones(64, np.uint8), 1)


def compile_sum_product() -> None:
    """Compile (or load) :func:`dqsim.backend.ldpc_kernels.sum_product_decode`'s kernels (LDPC reconciliation:
    the flooding and the layered schedule) on a two-check code; nothing without numba (the NumPy decoder serves
    there)."""
    if ldpc_kernels.has_sum_product():
        start, var = np.array([0, 2, 4]), np.array([0, 1, 1, 2])
        for layers in (None, ldpc_kernels.check_layers(start, var, 3)):
            ldpc_kernels.sum_product_decode(start, var, np.array([1, 1], np.uint8), np.array([2.0, 1.0, 2.0]), 10,
                                            layers=layers)
