"""DeepXDE's Lorenz inverse problem with a kanphys KAN: identify sigma, rho and beta.

``x' = sigma (y - x)``, ``y' = x (rho - z) - y``, ``z' = x y - beta z`` on ``t in [0, 3]`` from
``(x, y, z)(0) = (-8, 7, 27)``, with true values ``sigma = 10``, ``rho = 15``, ``beta = 8/3``.
The three coefficients start at 1 and are trainable ``dde.Variable``s; observations of the
trajectory every 0.05 time units (an accurate scipy solution) go in as ``PointSetBC``s. The
script is DeepXDE's own, except for the network line and for generating the observations
instead of reading DeepXDE's ``Lorenz.npz``.

Run:  python examples/deepxde_lorenz_inverse.py [--smoke]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from kanphys.deepxde import KAN, load_deepxde

dde = load_deepxde()  # import deepxde with its PyTorch backend

TRUE = {"sigma": 10.0, "rho": 15.0, "beta": 8.0 / 3.0}
X0 = (-8.0, 7.0, 27.0)
T_END = 3.0


def observations(step: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The true trajectory at ``t = 0, step, ..., 3``: ``(t (N, 1), xyz (N, 3))``."""
    sigma, rho, beta = TRUE["sigma"], TRUE["rho"], TRUE["beta"]

    def lorenz(_t: float, s: np.ndarray) -> list[float]:
        x, y, z = s
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    t = np.linspace(0.0, T_END, round(T_END / step) + 1)
    solved = solve_ivp(lorenz, (0.0, T_END), X0, t_eval=t, rtol=1e-10, atol=1e-10)
    return t[:, None], solved.y.T


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a fast run (for tests)")
    args = parser.parse_args(argv)
    dde.config.set_random_seed(0)
    iterations = 1500 if args.smoke else 20000

    C1, C2, C3 = dde.Variable(1.0), dde.Variable(1.0), dde.Variable(1.0)

    def lorenz_system(t, y):
        y1, y2, y3 = y[:, 0:1], y[:, 1:2], y[:, 2:3]
        dy1 = dde.grad.jacobian(y, t, i=0)
        dy2 = dde.grad.jacobian(y, t, i=1)
        dy3 = dde.grad.jacobian(y, t, i=2)
        return [dy1 - C1 * (y2 - y1), dy2 - y1 * (C2 - y3) + y2, dy3 - y1 * y2 + C3 * y3]

    def boundary(_, on_initial):
        return on_initial

    geom = dde.geometry.TimeDomain(0, T_END)
    ic1 = dde.icbc.IC(geom, lambda X: X0[0], boundary, component=0)
    ic2 = dde.icbc.IC(geom, lambda X: X0[1], boundary, component=1)
    ic3 = dde.icbc.IC(geom, lambda X: X0[2], boundary, component=2)
    observe_t, ob_y = observations()
    observe_y0 = dde.icbc.PointSetBC(observe_t, ob_y[:, 0:1], component=0)
    observe_y1 = dde.icbc.PointSetBC(observe_t, ob_y[:, 1:2], component=1)
    observe_y2 = dde.icbc.PointSetBC(observe_t, ob_y[:, 2:3], component=2)
    data = dde.data.PDE(
        geom,
        lorenz_system,
        [ic1, ic2, ic3, observe_y0, observe_y1, observe_y2],
        num_domain=400,
        num_boundary=2,
        anchors=observe_t,
    )

    # net = dde.nn.FNN([1] + [40] * 3 + [3], "tanh", "Glorot uniform")
    net = KAN([1, 12, 12, 3], grid_size=10, input_bounds=(0, T_END), seed=0)

    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2, external_trainable_variables=[C1, C2, C3])
    variables = dde.callbacks.VariableValue([C1, C2, C3], period=10**6)
    start = time.perf_counter()
    model.train(iterations=iterations, callbacks=[variables], display_every=10**6)
    seconds = time.perf_counter() - start

    found = dict(zip(TRUE, (float(c.detach()) for c in (C1, C2, C3)), strict=True))
    t = np.linspace(0, T_END, 601)[:, None]
    _, exact = observations(T_END / 600)
    error = float(np.linalg.norm(model.predict(t) - exact) / np.linalg.norm(exact))
    print(f"KAN [1, 12, 12, 3] after {iterations} Adam steps ({seconds:.1f} s):")
    for name, value in found.items():
        print(f"  {name:5s} = {value:8.4f}   (true {TRUE[name]:.4f})")
    print(f"trajectory relative L2 error {error:.2e}")
    return {**found, "rel_l2": error, "seconds": seconds}


if __name__ == "__main__":
    main()
