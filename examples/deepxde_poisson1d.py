"""DeepXDE's 1-D Poisson example with a kanphys KAN, read back as a formula.

``-u'' = pi^2 sin(pi x)`` on ``[-1, 1]`` with ``u(-1) = u(1) = 0``; exact solution
``u = sin(pi x)``. The script is DeepXDE's own, except for the network line. The solution is
a function of one variable, so the smallest KAN, one learnable edge, solves it; its trained
edge is then read back as a formula (kanphys.deepxde.to_formula). Larger KANs solve it as well
but spread the function over several paths, and their edge-by-edge formula is a long
composition (see docs/deepxde.md).

Run:  python examples/deepxde_poisson1d.py [--smoke]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from kanphys.deepxde import KAN, load_deepxde, to_formula

dde = load_deepxde()  # import deepxde with its PyTorch backend


def pde(x, u):
    return -dde.grad.hessian(u, x) - np.pi**2 * torch.sin(np.pi * x)


def solution(x):
    return np.sin(np.pi * x)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a fast run (for tests)")
    args = parser.parse_args(argv)
    dde.config.set_random_seed(0)
    adam_steps, lbfgs_steps = (600, 200) if args.smoke else (3000, 1000)

    geom = dde.geometry.Interval(-1, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, 64, 2, solution=solution, num_test=200)

    # net = dde.nn.FNN([1] + [50] * 3 + [1], "tanh", "Glorot uniform")
    net = KAN([1, 1], grid_size=10, input_bounds=(-1, 1), seed=0)

    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2, metrics=["l2 relative error"])
    start = time.perf_counter()
    model.train(iterations=adam_steps, display_every=10**6)
    dde.optimizers.set_LBFGS_options(maxiter=lbfgs_steps)
    model.compile("L-BFGS", metrics=["l2 relative error"])
    model.train(display_every=10**6)
    seconds = time.perf_counter() - start

    x = geom.uniform_points(401)
    error = float(np.linalg.norm(model.predict(x) - solution(x)) / np.linalg.norm(solution(x)))
    print(f"KAN [1, 1]: relative L2 error {error:.2e} after {seconds:.1f} s")
    (formula,) = to_formula(net, x, names=["x"])
    print(f"formula: u = {formula}")
    return {"rel_l2": error, "formula": formula, "seconds": seconds}


if __name__ == "__main__":
    main()
