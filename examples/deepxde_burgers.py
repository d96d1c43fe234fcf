"""DeepXDE's Burgers example with a kanphys KAN.

``u_t + u u_x = nu u_xx`` with ``nu = 0.01/pi`` on ``x in [-1, 1]``, ``t in [0, 1]``,
``u(x, 0) = -sin(pi x)``, ``u(-1, t) = u(1, t) = 0``: the shock forms near ``t = 0.3``. The
script is DeepXDE's own, except for the network line; the error is measured against the exact
Cole-Hopf solution (kanphys.pde.references.burgers_cole_hopf) on a 256 x 100 grid.

Run:  python examples/deepxde_burgers.py [--smoke]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from kanphys.deepxde import KAN, load_deepxde
from kanphys.pde.references import BURGERS_NU, burgers_cole_hopf

dde = load_deepxde()  # import deepxde with its PyTorch backend


def pde(x, u):
    u_x = dde.grad.jacobian(u, x, i=0, j=0)
    u_t = dde.grad.jacobian(u, x, i=0, j=1)
    u_xx = dde.grad.hessian(u, x, i=0, j=0)
    return u_t + u * u_x - BURGERS_NU * u_xx


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a fast run (for tests)")
    args = parser.parse_args(argv)
    dde.config.set_random_seed(0)
    adam_steps, lbfgs_steps = (200, 0) if args.smoke else (10000, 3000)
    scale = 4 if args.smoke else 1

    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 0.99)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(
        geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial
    )
    data = dde.data.TimePDE(
        geomtime,
        pde,
        [bc, ic],
        num_domain=2540 // scale,
        num_boundary=80 // scale,
        num_initial=160 // scale,
    )

    # net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    net = KAN([2, 10, 10, 1], grid_size=5, input_bounds=([-1, 0], [1, 1]), seed=0)

    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)
    start = time.perf_counter()
    model.train(iterations=adam_steps, display_every=10**6)
    if lbfgs_steps:
        dde.optimizers.set_LBFGS_options(maxiter=lbfgs_steps)
        model.compile("L-BFGS")
        model.train(display_every=10**6)
    seconds = time.perf_counter() - start

    xx, tt = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100), indexing="ij")
    points = np.stack([xx.ravel(), tt.ravel()], axis=1)
    exact = burgers_cole_hopf(points[:, 0], points[:, 1], BURGERS_NU)
    predicted = model.predict(points)[:, 0]
    error = float(np.linalg.norm(predicted - exact) / np.linalg.norm(exact))
    print(f"KAN [2, 10, 10, 1]: relative L2 error {error:.2e} after {seconds:.1f} s")
    return {"rel_l2": error, "seconds": seconds}


if __name__ == "__main__":
    main()
