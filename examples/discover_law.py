"""Discover a physical law from noisy measurements, then read it back as a formula.

Measurements of the gravitational force between two masses, ``F = G m1 m2 / r^2`` with
``G = 6.674`` (in convenient units), are generated with 1% noise and written to a CSV file;
``LawDiscovery`` recovers the inverse-square law with its constant, reports the formula's own
error on held-out rows and the Pareto front of simpler alternatives, and draws the pruned
network (``kan.png``).

Run:  python examples/discover_law.py [--smoke] [--output DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from kanphys import LawDiscovery
from kanphys.discovery import read_table

G = 6.674


def measurements(path: Path, n: int, noise: float, seed: int) -> None:
    """Write ``n`` noisy measurements with columns m1, m2, r, F."""
    rng = np.random.default_rng(seed)
    m1, m2, r = rng.uniform(1, 5, n), rng.uniform(1, 5, n), rng.uniform(1, 3, n)
    force = G * m1 * m2 / r**2
    force = force + rng.normal(0.0, noise * np.sqrt(np.mean(force**2)), n)
    table = np.stack([m1, m2, r, force], axis=1)
    rows = ["m1,m2,r,F"] + [",".join(repr(float(v)) for v in row) for row in table]
    path.write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small, fast run (for the tests)")
    parser.add_argument("--output", default="runs/discover_law", help="output directory")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / "gravity.csv"
    measurements(data_path, 2000 if args.smoke else 5000, noise=0.01, seed=0)
    data = read_table(data_path, target="F")
    law = LawDiscovery(seed=0, noise_aware=True, time_limit=30 if args.smoke else 120)
    law.fit_dataset(data)
    print(f"F = {law.formula_string_}")
    print(f"test R^2 {law.r2_test_:.6f}, RMSE {law.rmse_test_:.3e}, complexity {law.complexity_}")
    for candidate in law.pareto_:
        mark = "*" if candidate.chosen else " "
        print(f" {mark} {candidate.complexity:>3} {candidate.rmse_val:.3e} {candidate.formula}")
    law.plot(out / "kan.png")
    return {"formula": law.formula_string_, "r2_test": law.r2_test_, "law": law}


if __name__ == "__main__":
    main()
