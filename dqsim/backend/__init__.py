"""Array-library choice: NumPy on the CPU, CuPy on a GPU.

This is the only module of dqsim that imports :mod:`cupy`. Everything above it
writes kernels once against the array API that NumPy and CuPy share and gets
the module to use as ``backend.xp``.

A :class:`Backend` is made once per process by :func:`select`; choosing the
GPU happens there (never at import) and uses the rank *within the node*
modulo the number of visible GPUs, so a multi-node job puts one rank per GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dqsim.errors import DqsimError

#: Names accepted by :func:`select` (``auto`` picks CuPy when a GPU is visible).
BACKEND_NAMES = ("auto", "numpy", "cupy")

#: Precisions of the state vector and the real dtype of their probabilities.
PRECISIONS = {"complex128": np.float64, "complex64": np.float32}


#: Byte boundary on which :meth:`Backend.zeros` starts a CPU shard: a cache line, so a block of 8
#: complex128 amplitudes (128 bytes) of the register-block kernels spans 2 lines, not 3. NumPy's
#: own large arrays start 16 bytes past one on the dev VM, where the 3-qubit block kernel on the
#: top bits (segments 64-256 MiB apart) ran at 0.37-0.44 of a copy against 0.52-0.66 aligned
#: (complex128, n = 26; bench/results/kernel_bench-vm-k3top-20261205.md).
SHARD_ALIGN_BYTES = 64


def real_dtype(precision: str):
    """The real dtype matching a complex precision name (``complex64`` → float32)."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise DqsimError(
            f"precision = {precision!r} is not supported; allowed: {', '.join(PRECISIONS)}"
        ) from None


def tolerance(precision: str) -> float:
    """Absolute tolerance for checks on amplitudes of this precision.

    Examples:
        >>> tolerance("complex128")
        1e-10
        >>> tolerance("complex64")
        0.0001
    """
    real_dtype(precision)
    return 1e-10 if precision == "complex128" else 1e-4


@dataclass
class Backend:
    """The array module in use and the device it runs on.

    Attributes:
        name: ``"numpy"`` or ``"cupy"``.
        xp: the array module (``numpy`` or ``cupy``).
        device_index: GPU index for CuPy, ``None`` for NumPy.
    """

    name: str
    xp: Any = field(repr=False)
    device_index: int | None = None
    #: Compiled 1-/2-qubit kernels (:mod:`dqsim.backend.fast`), or ``None``.
    fast: Any = field(default=None, repr=False)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, array, dtype=None):
        """Copy host data onto this backend's device (no copy for NumPy)."""
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array) -> np.ndarray:
        """Return a NumPy array with the contents of ``array``."""
        if self.is_gpu:
            return self.xp.asnumpy(array)
        return np.asarray(array)

    def copy_from_host(self, host: np.ndarray, device) -> None:
        """Copy a host array into an existing device array of the same size."""
        if self.is_gpu:
            device.set(host.reshape(device.shape))
        else:
            device[...] = host.reshape(device.shape)

    def zeros(self, num_elems: int, dtype):
        """A zeroed 1-D array of ``num_elems`` elements of ``dtype`` on this backend's device (a state's shard).

        CuPy: ``cupy.zeros`` (its allocations start on 256-byte boundaries).
        NumPy: the array starts on a :data:`SHARD_ALIGN_BYTES` boundary (a view
        into a zeroed byte buffer a little longer), with the pages untouched
        until written, as ``np.zeros``.

        Examples:
            >>> backend = Backend("numpy", np)
            >>> a = backend.zeros(5, np.complex128)
            >>> a.ctypes.data % SHARD_ALIGN_BYTES, a.shape, a.dtype, float(abs(a).sum())
            (0, (5,), dtype('complex128'), 0.0)
        """
        dtype = np.dtype(dtype)
        if self.is_gpu:
            return self.xp.zeros(int(num_elems), dtype=dtype)
        nbytes = int(num_elems) * dtype.itemsize
        raw = np.zeros(nbytes + SHARD_ALIGN_BYTES, dtype=np.uint8)
        start = -raw.ctypes.data % SHARD_ALIGN_BYTES
        return raw[start:start + nbytes].view(dtype)

    def pinned_empty(self, size: int, dtype) -> np.ndarray:
        """A host array of ``size`` elements to copy device data through (MPI staging).

        CuPy: page-locked (pinned) host memory (``cupy.cuda.alloc_pinned_memory``),
        which the driver copies at full bus speed without an intermediate
        pageable-to-pinned copy; pageable memory if pinning fails. NumPy: ``np.empty``.
        """
        dtype = np.dtype(dtype)
        if self.is_gpu:
            try:
                memory = self.xp.cuda.alloc_pinned_memory(max(1, int(size)) * dtype.itemsize)
                return np.frombuffer(memory, dtype=dtype, count=int(size))
            except Exception:  # noqa: BLE001 - pinning refused (limits): pageable memory still works
                pass
        return np.empty(int(size), dtype=dtype)

    def to_host_into(self, array, host: np.ndarray) -> np.ndarray:
        """Copy ``array`` (this backend's, contiguous) into the host array ``host`` of as many elements; returns ``host``."""
        if self.is_gpu:
            array.get(out=host.reshape(array.shape))
        else:
            host.reshape(array.shape)[...] = array
        return host

    def random_generator(self, seed_words):
        """A generator of random numbers on this backend's device, seeded by a list of integers.

        NumPy: ``numpy.random.Generator(SFC64(SeedSequence(seed_words)))``;
        CuPy: ``cupy.random.Generator(XORWOW(SeedSequence(seed_words)))``
        (cuRAND, drawn on the GPU). The two give the same distributions but
        different numbers for the same words (see :mod:`dqsim.rng`). Callers
        use only methods both have: ``random``, ``standard_exponential``, ``binomial``.
        """
        sequence = np.random.SeedSequence([int(w) for w in seed_words])
        if self.is_gpu:
            return self.xp.random.Generator(self.xp.random.XORWOW(sequence))
        return np.random.Generator(np.random.SFC64(sequence))

    def random_bytes(self, generator, size: int):
        """``size`` uniform random bytes (uint8) on this backend's device from ``generator``.

        NumPy: ``generator.bytes`` (one byte per value, the cheapest draw); CuPy,
        whose generators have no ``bytes``: ``floor(256·u)`` of uniforms.
        """
        if self.is_gpu:
            return (generator.random(size) * 256.0).astype(self.xp.uint8)
        return np.frombuffer(generator.bytes(size), dtype=np.uint8)

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the CPU)."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()

    def free_memory_bytes(self) -> int:
        """Bytes this process may still allocate on its device.

        For CuPy the driver's free memory on the bound GPU; for NumPy the
        host's ``MemAvailable`` from ``/proc/meminfo`` (the caller divides by
        the number of ranks sharing the host).
        """
        if self.is_gpu:
            free, _total = self.xp.cuda.runtime.memGetInfo()
            pool = self.xp.get_default_memory_pool()
            return int(free + pool.free_bytes())
        return host_available_bytes()

    def kernel_name(self) -> str:
        """Describe the device, e.g. ``cupy:NVIDIA H100 80GB HBM3`` or ``numpy:cpu``."""
        if self.is_gpu:
            props = self.xp.cuda.runtime.getDeviceProperties(self.device_index)
            name = props["name"]
            if isinstance(name, bytes):
                name = name.decode()
            return f"cupy:{name}"
        return "numpy:cpu"


def host_available_bytes() -> int:
    """Host memory available to new allocations, in bytes (Linux ``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 1 << 40


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        import cupy  # noqa: PLC0415  (only this module imports cupy)

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - any failure means "no usable GPU"
        return False


def usable_name(name: str = "auto") -> str:
    """:func:`resolve_name`, refusing CuPy where it is not usable (what :func:`select` and ``dqsim check`` refuse);
    binds no device.

    Raises:
        DqsimError: an unknown name, or CuPy asked for (by ``name`` or, for ``"auto"``, by ``DQSIM_BACKEND``)
            where CuPy is not installed or sees no GPU: one line naming where it was asked for.

    Examples:
        >>> usable_name("numpy")
        'numpy'
    """
    resolved = resolve_name(name)
    if resolved == "cupy" and not cupy_available():
        if name == "auto":  # only DQSIM_BACKEND turns "auto" into cupy without a GPU
            raise DqsimError("DQSIM_BACKEND=cupy (in the environment; the job's backend is 'auto') but CuPy is not "
                             "installed or sees no GPU; unset DQSIM_BACKEND (or set it to numpy), or run on a GPU node "
                             "with the 'gpu' extra installed")
        raise DqsimError("backend = 'cupy' but CuPy is not installed or sees no GPU; "
                         "install the 'gpu' extra on a GPU node or use backend = 'numpy'")
    return resolved


def resolve_name(name: str = "auto") -> str:
    """The array library :func:`select` takes for ``name``: ``"numpy"`` or ``"cupy"`` (``"auto"``: the
    environment variable ``DQSIM_BACKEND`` if set, else CuPy when a GPU is visible); binds no device.

    Raises:
        DqsimError: an unknown name (in the argument or in ``DQSIM_BACKEND``).

    Examples:
        >>> resolve_name("numpy")
        'numpy'
    """
    if name not in BACKEND_NAMES:
        raise DqsimError(f"backend = {name!r} is not known; allowed: {', '.join(BACKEND_NAMES)}")
    if name == "auto":
        name = os.environ.get("DQSIM_BACKEND", "auto")
        if name not in BACKEND_NAMES:
            raise DqsimError(
                f"DQSIM_BACKEND = {name!r} is not known; allowed: {', '.join(BACKEND_NAMES)}"
            )
        if name == "auto":
            name = "cupy" if cupy_available() else "numpy"
    return name


def select(name: str = "auto", *, node_local_rank: int = 0, node_local_size: int = 1) -> Backend:
    """Choose the array library and bind this process to its device.

    Args:
        name: ``"numpy"``, ``"cupy"`` or ``"auto"`` (CuPy when a GPU is
            visible, else NumPy). The environment variable
            ``DQSIM_BACKEND`` overrides ``"auto"``.
        node_local_rank: rank of this process among those on its node; the
            GPU used is ``node_local_rank % number_of_visible_gpus``.
        node_local_size: ranks of the job on this node; with NumPy each takes
            its share of the cores for numba's threads
            (:func:`dqsim.backend.fast.share_cores`, unless ``NUMBA_NUM_THREADS`` is set).

    Returns:
        The :class:`Backend` to pass to state constructors.

    Raises:
        DqsimError: unknown name, or ``"cupy"`` asked for where no GPU is usable.

    Examples:
        >>> select("numpy").name
        'numpy'
    """
    name = usable_name(name)
    from dqsim.backend import fast  # noqa: PLC0415

    if name == "numpy":
        if node_local_size > 1:
            fast.share_cores(node_local_size)
        return Backend("numpy", np, None, fast.numba_kernels())
    import cupy  # noqa: PLC0415

    device_index = node_local_rank % cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(device_index).use()
    kernels = fast.CupyKernels(cupy) if fast.enabled() else None
    return Backend("cupy", cupy, device_index, kernels)
