"""Precision and recall of the structure tests against sympy-computed labels.

For every Feynman equation of the public set and every control of
:data:`kanphys.discovery.symmetry_data.CONTROLS`, sample the formula, fit a KAN surrogate
(:class:`kanphys.discovery.reduction.Surrogate`) to the samples, run
:func:`kanphys.discovery.structure` on the surrogate and compare each decision with the true
label (:func:`kanphys.discovery.symmetry_data.true_facts`). Facts the test marks "not
applicable" are counted apart.

    python benchmarks/structure_tests.py --noises 0 0.01 --json structure_runs.json

writes the tables to docs/discovery.md (section "Structure tests") unless ``--no-docs``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kanphys.discovery.properties import KINDS, THRESHOLDS, structure
from kanphys.discovery.reduction import Surrogate
from kanphys.discovery.symmetry_data import CONTROLS, LabelledFormula, sample, true_facts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from feynman import load_equations  # noqa: E402

DOCS = ROOT / "docs" / "discovery.md"
BEGIN, END = "<!-- structure-tests:begin -->", "<!-- structure-tests:end -->"


def formulas(ids: list[str] | None) -> list[LabelledFormula]:
    items = [
        LabelledFormula(
            equation["id"],
            equation["formula"],
            tuple(v["name"] for v in equation["variables"]),
            tuple((float(v["low"]), float(v["high"])) for v in equation["variables"]),
            note="Feynman",
        )
        for equation in load_equations()
    ] + list(CONTROLS)
    return [item for item in items if not ids or item.id in ids]


def run_one(
    item: LabelledFormula, noise: float, seed: int, rows: int, method: str, noisy: bool = False
) -> dict[str, Any]:
    start = time.perf_counter()
    labels = true_facts(item, seed=seed)
    X, y = sample(item, rows, seed=seed)
    rng = np.random.default_rng(seed + 1)
    y_noisy = y + noise * np.sqrt(np.mean(y**2)) * rng.standard_normal(len(y))
    surrogate = Surrogate(X, y_noisy, seed=seed, max_rows=rows, noisy=noisy and noise > 0)
    report = structure(
        surrogate, X, names=item.names, invariants=item.invariants, seed=seed, method=method
    )
    facts = []
    for fact in report.facts:
        facts.append(
            {
                "kind": fact.kind,
                "statement": fact.statement(),
                "score": None if fact.holds is None else fact.score,
                "holds": fact.holds,
                "label": labels[fact.key()],
            }
        )
    return {
        "id": item.id,
        "source": item.note if item.note == "Feynman" else "control",
        "noise": noise,
        "noisy_surrogate": bool(noisy and noise > 0),
        "seed": seed,
        "method": method,
        "surrogate_rmse": surrogate.rmse,
        "seconds": time.perf_counter() - start,
        "facts": facts,
    }


def counts(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        for fact in record["facts"]:
            for kind in (fact["kind"], "all"):
                row = table[kind]
                if fact["holds"] is None:
                    row["n/a"] += 1
                elif fact["holds"] and fact["label"]:
                    row["tp"] += 1
                elif fact["holds"]:
                    row["fp"] += 1
                elif fact["label"]:
                    row["fn"] += 1
                else:
                    row["tn"] += 1
    return table


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def tables(records: list[dict[str, Any]]) -> str:
    lines = []
    for noise in sorted({r["noise"] for r in records}):
        subset = [r for r in records if r["noise"] == noise]
        table = counts(subset)
        lines += [
            f"Noise {noise:g} ({len(subset)} formulas: "
            f"{sum(r['source'] == 'Feynman' for r in subset)} Feynman, "
            f"{sum(r['source'] == 'control' for r in subset)} controls; median surrogate time "
            f"{np.median([r['seconds'] for r in subset]):.1f} s):",
            "",
            "| property | threshold | true + | false + | false - | true - | n/a "
            "| precision | recall |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for kind in (*KINDS, "all"):
            row = table.get(kind)
            if not row:
                continue
            tp, fp, fn, tn = row["tp"], row["fp"], row["fn"], row["tn"]
            threshold = f"{THRESHOLDS[kind]:g}" if kind in THRESHOLDS else ""
            name = f"**{kind}**" if kind == "all" else kind
            lines.append(
                f"| {name} | {threshold} | {tp} | {fp} | {fn} | {tn} | {row['n/a']} "
                f"| {_ratio(tp, tp + fp)} | {_ratio(tp, tp + fn)} |"
            )
        lines.append("")
        wrong = [
            f"{r['id']}: {f['statement']} (score {f['score']:.3g}, truly "
            f"{'holds' if f['label'] else 'fails'})"
            for r in subset
            for f in r["facts"]
            if f["holds"] is not None and f["holds"] != f["label"]
        ]
        if wrong:
            lines.append(f"Wrong decisions at noise {noise:g} ({len(wrong)}):")
            lines.append("")
            lines += [f"- {w}" for w in wrong[:40]]
            if len(wrong) > 40:
                lines.append(f"- ... and {len(wrong) - 40} more (see the runs file)")
            lines.append("")
    return "\n".join(lines)


def write_docs(text: str, command: str) -> None:
    body = DOCS.read_text()
    block = f"{BEGIN}\n\nMeasured with `{command}`.\n\n{text}\n{END}"
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        body = head + block + rest.split(END, 1)[1]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    DOCS.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", help="formula ids (default: all)")
    parser.add_argument("--noises", nargs="*", type=float, default=[0.0, 0.01])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--json", default="structure_runs.json")
    parser.add_argument("--method", choices=["values", "derivatives"], default="values")
    parser.add_argument(
        "--noisy", action="store_true", help="surrogates for noisy data at noise > 0"
    )
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    path = Path(args.json)
    records: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    for record in records:  # decisions follow the current thresholds (scores are stored)
        for fact in record["facts"]:
            if fact["score"] is not None:
                fact["holds"] = fact["score"] < THRESHOLDS[fact["kind"]]
    done = {(r["id"], r["noise"], r["seed"]) for r in records}
    for noise in args.noises:
        for item in formulas(args.ids):
            if (item.id, noise, args.seed) in done:
                continue
            record = run_one(item, noise, args.seed, args.rows, args.method, args.noisy)
            records.append(record)
            path.write_text(json.dumps(records, indent=1))
            wrong = sum(
                f["holds"] is not None and f["holds"] != f["label"] for f in record["facts"]
            )
            print(
                f"{item.id:<22} noise {noise:<5g} {len(record['facts']):>4} facts, "
                f"{wrong:>3} wrong, surrogate rmse {record['surrogate_rmse']:.2e}, "
                f"{record['seconds']:.1f} s",
                flush=True,
            )
    selected = {item.id for item in formulas(args.ids)}
    chosen = [r for r in records if r["id"] in selected and r["noise"] in args.noises]
    text = tables(chosen)
    print(text)
    if not args.no_docs:
        command = [f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]
        write_docs(text, "python " + " ".join(shlex.quote(a) for a in command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
