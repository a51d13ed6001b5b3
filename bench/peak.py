"""This machine's fp32 FMA peak per core, measured at run time.

    PYTHONPATH=python python bench/peak.py [--seconds 0.3]

Runs a loop of independent FMAs (fastinfer._core.kernels.f32_fma_peak) with AVX-512 and AVX2
vectors on one thread, timed by that thread's CPU time so that other processes on a shared machine
do not count, and prints GFLOP/s. Kernel benchmarks divide by `measured_peak()`.
"""

from __future__ import annotations

import argparse
import functools

from fastinfer import _core


@functools.cache
def measured_peak(seconds: float = 0.3, repeats: int = 3) -> float:
    """The best fp32 GFLOP/s of one core over the ISAs this CPU runs (best of `repeats` runs)."""
    best = 0.0
    for isa in ("avx512", "avx2"):
        for _ in range(repeats):
            best = max(best, _core.kernels.f32_fma_peak(isa, seconds))
    return best


def main() -> None:
    """Prints the FMA peak per ISA and the best."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3)
    args = ap.parse_args()
    for isa in ("avx512", "avx2"):
        runs = [_core.kernels.f32_fma_peak(isa, args.seconds) for _ in range(3)]
        print(f"{isa:7s} fp32 FMA peak: {max(runs):7.1f} GFLOP/s per core (runs: "
              + ", ".join(f"{r:.1f}" for r in runs) + ")")
    print(f"peak    {measured_peak(args.seconds):7.1f} GFLOP/s per core")


if __name__ == "__main__":
    main()
