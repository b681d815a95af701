"""Compile dqsim's CUDA C++ kernels without a GPU: NVRTC to PTX, then ptxas for registers and spills.

A check for machines with no GPU (the dev VM), before a GPU run is spent on a kernel that does
not compile: every module of :mod:`dqsim.backend.cuda_dense` (k = 1..5, complex128 and complex64)
and of :mod:`dqsim.backend.cuda_tiles` (k = 1..5, its group bits for a 2,048-amplitude tile) is
compiled for one architecture (default sm_90, the H100/H200), and ptxas's resource line (registers,
spills) is printed per kernel. Exit status 1 when a module does not compile.

NVRTC and ptxas come from NVIDIA's PyPI wheels, which install and run without a GPU:

    python3 -m pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \\
        --python-version 3.11 -d /tmp/cuda nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12
    cd /tmp/cuda && for w in *.whl; do unzip -q -o $w -d x; done
    PYTHONPATH=$PWD .venv/bin/python bench/cuda_compile_check.py \\
        --nvrtc /tmp/cuda/x/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 --ptxas /tmp/cuda/x/nvidia/cuda_nvcc/bin/ptxas

The tiles include CuPy's complex header, which is not here: they are compiled only with
``--cupy-include DIR`` (a CuPy source tree's ``cupy/_core/include``). A compile here says nothing
about speed or correctness; the GPU tests and ``bench/gpu_run.sh`` do.
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def nvrtc_ptx(lib, source: str, name: str, arch: str, include: str | None = None) -> tuple[int, str, str]:
    """(status, log, PTX) of one NVRTC compile of ``source`` for ``compute_XX``."""
    program = ctypes.c_void_p()
    status = lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(), name.encode(), 0, None, None)
    if status:
        return status, "nvrtcCreateProgram failed", ""
    options = [f"--gpu-architecture=compute_{arch}".encode(), b"-std=c++17"]
    if include:
        options.append(f"-I{include}".encode())
    status = lib.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(program, log)
    ptx = b""
    if status == 0:
        lib.nvrtcGetPTXSize(program, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(program, buffer)
        ptx = buffer.value
    lib.nvrtcDestroyProgram(ctypes.byref(program))
    return status, log.value.decode(errors="replace"), ptx.decode(errors="replace")


def ptxas_resources(ptxas: str, ptx: str, arch: str) -> list[str]:
    """ptxas -v's lines on registers and spills, one per kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "module.ptx"
        path.write_text(ptx)
        out = subprocess.run([ptxas, f"-arch=sm_{arch}", "-v", "-o", str(Path(tmp) / "module.cubin"), str(path)],
                             capture_output=True, text=True)
    lines, kernel = [], None
    for line in out.stderr.splitlines():
        if "Compiling entry function" in line:
            kernel = line.split("'")[1]
        elif ("registers" in line or "spill" in line) and kernel:
            lines.append(f"{kernel}: {line.split(':', 1)[-1].strip()}")
    if out.returncode:
        lines.append(f"ptxas failed: {out.stderr.strip()[:500]}")
    return lines


def modules(cupy_include: str | None):
    """(label, source, needs CuPy's headers) of every module to compile."""
    from dqsim.backend import cuda_dense, cuda_tiles  # noqa: PLC0415

    for k in range(1, cuda_dense.MAX_GROUP_TARGETS + 1):
        for dtype in (np.complex128, np.complex64):
            yield f"cuda_dense k={k} {np.dtype(dtype).name}", cuda_dense.module_source(k, dtype), False
    if cupy_include:
        for k in range(1, cuda_tiles.MAX_TILE_TARGETS + 1):
            plan = cuda_tiles.tile_plan(list(range(k)), 20)
            for ctype in ("complex<double>", "complex<float>"):
                source = (f"#include <cupy/complex.cuh>\ntypedef {ctype} amp_t;\n#define K {k}\n"
                          f"#define GB {plan.group_bits}\n#define SPAN {k + plan.group_bits}\n" + cuda_tiles.CUDA_SOURCE)
                yield f"cuda_tiles k={k} {ctype}", source, True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nvrtc", required=True, help="path of libnvrtc.so")
    parser.add_argument("--ptxas", help="path of ptxas (registers and spills); without it NVRTC only")
    parser.add_argument("--arch", default="90", help="compute capability, e.g. 90 (H100/H200), 80 (A100)")
    parser.add_argument("--cupy-include", help="CuPy's include folder (compiles the tiled kernel too)")
    args = parser.parse_args(argv)
    lib = ctypes.CDLL(args.nvrtc)
    failed = 0
    for label, source, _ in modules(args.cupy_include):
        status, log, ptx = nvrtc_ptx(lib, source, label.replace(" ", "_") + ".cu", args.arch, args.cupy_include)
        if status:
            failed += 1
            print(f"{label}: FAILED\n{log.strip()}")
            continue
        resources = ptxas_resources(args.ptxas, ptx, args.arch) if args.ptxas else ["(no ptxas)"]
        print(f"{label}: ok; " + "; ".join(resources))
    print(f"{failed} module(s) failed" if failed else "every module compiled")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
