"""Fit exp(sin(pi x) + y^2) with a small KAN, refining its grid, and compare with an MLP.

This is the KAN paper's first example. A [2, 5, 1] KAN is trained with L-BFGS on a coarse
grid, then its grid is refined (G = 3 -> 5 -> 10 -> 20) without losing what it learned; an MLP
with the same number of parameters is trained with the same budget for comparison.

Run:  python examples/fit_function.py [--smoke] [--output DIR]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

import kanphys
from kanphys import KAN, MLP, FitConfig, fit, refine_grid, save_model


def target(x: torch.Tensor) -> torch.Tensor:
    """``f(x, y) = exp(sin(pi x) + y^2)``: (N, 2) -> (N, 1)."""
    return torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)


def rmse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x) - y) ** 2)))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests (seconds)")
    parser.add_argument("--output", type=Path, default=None, help="directory for the saved model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    grids = [3, 5] if args.smoke else [3, 5, 10, 20]
    steps = 40 if args.smoke else 100
    samples = 200 if args.smoke else 1000
    generator = torch.Generator().manual_seed(args.seed)
    x_train = torch.rand(samples, 2, dtype=torch.float64, generator=generator) * 2 - 1
    x_test = torch.rand(samples, 2, dtype=torch.float64, generator=generator) * 2 - 1
    y_train, y_test = target(x_train), target(x_test)
    config = FitConfig(steps=steps, optimizer="lbfgs", learning_rate=1.0, log_every=steps)

    print(f"kanphys {kanphys.__version__}: fitting exp(sin(pi x) + y^2) on {samples} points")
    print(f"{'model':<22}{'params':>8}{'test RMSE':>12}{'seconds':>10}")
    model = KAN([2, 5, 1], grid_size=grids[0], dtype=torch.float64, generator=generator)
    results: dict[str, float] = {}
    for index, grid_size in enumerate(grids):
        if index:
            model = refine_grid(model, grid_size, x_train)
        start = time.perf_counter()
        fit(model, x_train, y_train, config=config)
        seconds = time.perf_counter() - start
        error = rmse(model, x_test, y_test)
        results[f"kan_G{grid_size}"] = error
        label = f"KAN [2,5,1] G={grid_size}"
        print(f"{label:<22}{model.num_parameters():>8}{error:>12.2e}{seconds:>10.1f}")

    mlp = MLP.with_parameter_budget(
        2, 1, model.num_parameters(), depth=2, dtype=torch.float64, generator=generator
    )
    start = time.perf_counter()
    fit(
        mlp,
        x_train,
        y_train,
        config=FitConfig(
            steps=steps * len(grids), optimizer="lbfgs", learning_rate=1.0, log_every=steps
        ),
    )
    seconds = time.perf_counter() - start
    results["mlp"] = rmse(mlp, x_test, y_test)
    label = f"MLP {list(mlp.width)}"
    print(f"{label:<22}{mlp.num_parameters():>8}{results['mlp']:>12.2e}{seconds:>10.1f}")

    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        path = save_model(model, args.output / "kan.pt")
        print(f"saved the final KAN to {path}")
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
