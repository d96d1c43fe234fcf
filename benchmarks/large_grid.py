"""Prediction on a large grid: time and peak memory of ``SolveResult.predict`` on 10^7 points.

Predictions run in chunks of 65,536 points, so the memory beyond the inputs and the outputs
stays bounded however large the grid. Trains ``poisson2d`` briefly (the accuracy does not
matter here), then predicts at ``--points`` random points and prints the wall time and the
growth of the peak resident set.

Run:  python benchmarks/large_grid.py [--points 10000000]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import kanphys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10**7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    training = {"steps": 20, "lbfgs_steps": 0, "n_collocation": 500}
    result = kanphys.solve("poisson2d", training=training, device="cpu", plots=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x = torch.rand(args.points, 2, dtype=torch.float64) * 2 - 1
    start = time.perf_counter()
    u = result.predict(x)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sizes = (x.numel() * x.element_size() / 2**20, u.numel() * u.element_size() / 2**20)
    print(
        f"{args.points:,} points, {result.metrics['model']['width']} KAN, float64: "
        f"{elapsed:.1f} s; peak RSS {before:.0f} -> {after:.0f} MiB "
        f"(+{after - before:.0f} MiB; inputs {sizes[0]:.0f} MiB, outputs {sizes[1]:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
