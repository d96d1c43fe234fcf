"""DeepXDE 2-D Poisson with the boundary condition imposed exactly, on a kanphys KAN.

``-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)`` on ``[-1, 1]^2`` with ``u = 0`` on the boundary;
exact solution ``u = sin(pi x) sin(pi y)``. The boundary condition is a hard constraint: the
output transform ``u = (1 - x^2)(1 - y^2) N(x, y)`` makes it hold exactly, so the loss is the
equation alone. The script is DeepXDE's own, except for the network line.

Run:  python examples/deepxde_poisson2d_hard.py [--smoke]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from kanphys.deepxde import KAN, load_deepxde

dde = load_deepxde()  # import deepxde with its PyTorch backend


def pde(x, u):
    u_xx = dde.grad.hessian(u, x, i=0, j=0)
    u_yy = dde.grad.hessian(u, x, i=1, j=1)
    source = 2 * np.pi**2 * torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])
    return -u_xx - u_yy - source


def solution(x):
    return np.sin(np.pi * x[:, 0:1]) * np.sin(np.pi * x[:, 1:2])


def boundary_factor(x, u):
    return (1 - x[:, 0:1] ** 2) * (1 - x[:, 1:2] ** 2) * u


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a fast run (for tests)")
    args = parser.parse_args(argv)
    dde.config.set_random_seed(0)
    adam_steps, lbfgs_steps, points = (150, 60, 300) if args.smoke else (3000, 1000, 1200)

    geom = dde.geometry.Rectangle([-1, -1], [1, 1])
    data = dde.data.PDE(geom, pde, [], num_domain=points, solution=solution, num_test=2000)

    # net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot uniform")
    net = KAN([2, 8, 1], grid_size=5, input_bounds=([-1, -1], [1, 1]), seed=0)
    net.apply_output_transform(boundary_factor)

    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2, metrics=["l2 relative error"])
    start = time.perf_counter()
    model.train(iterations=adam_steps, display_every=10**6)
    dde.optimizers.set_LBFGS_options(maxiter=lbfgs_steps)
    model.compile("L-BFGS", metrics=["l2 relative error"])
    model.train(display_every=10**6)
    seconds = time.perf_counter() - start

    x = geom.uniform_points(101 * 101)
    exact = solution(x)
    error = float(np.linalg.norm(model.predict(x) - exact) / np.linalg.norm(exact))
    edges = geom.uniform_boundary_points(400)
    boundary = float(np.abs(model.predict(edges)).max())
    print(f"KAN [2, 8, 1]: relative L2 error {error:.2e} after {seconds:.1f} s")
    print(f"largest |u| on the boundary: {boundary:.1e} (imposed exactly)")
    return {"rel_l2": error, "boundary_max": boundary, "seconds": seconds}


if __name__ == "__main__":
    main()
