"""Attribution scores and pruning: exact zeros, a trained sparse model, invariants and errors."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from kanphys.errors import ConfigError, ShapeError
from kanphys.io import load_model, save_model
from kanphys.layers import KANLayer
from kanphys.models import KAN, MLP
from kanphys.pruning import (
    attribute,
    edge_scores,
    node_scores,
    prune,
    prune_inputs,
    pruned_width,
)
from kanphys.training import FitConfig, fit
from kanphys.training.regularization import edge_magnitudes

THRESHOLD = 1e-2  # prune's default
EPS = 1e-4  # attribute's default offset of the sub-node spread


def batch(n: int, d: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=generator, dtype=torch.float64) * 2 - 1


def snapshot(model: KAN) -> dict[str, Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def assert_unchanged(model: KAN, before: dict[str, Tensor], config: object) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(after[name], value), name
    assert model.config == config


def switch_off(layer: KANLayer, rows: Any = slice(None), columns: Any = slice(None)) -> None:
    """Make the edges ``layer[rows, columns]`` identically zero (coefficients and base weights)."""
    assert layer.base_weight is not None
    with torch.no_grad():
        layer.coefficients[rows, columns] = 0.0
        layer.base_weight[rows, columns] = 0.0


def zero_node_kan() -> KAN:
    """``[2, [3, 1], 1]`` with exactly-zero parts.

    Hidden sum node 1 has zero incoming and outgoing edges, hidden sum node 2 zero outgoing
    edges, input 1 zero outgoing edges; the product node (index 3, sub-nodes 3 and 4) and sum
    node 0 carry the signal.
    """
    model = KAN([2, [3, 1], 1], dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    first, second = model.kan_layers()
    switch_off(first, columns=1)
    switch_off(first, rows=1)
    switch_off(second, rows=1)
    switch_off(second, rows=2)
    return model


def reference_scores(model: KAN, x: Tensor) -> tuple[list[list[list[float]]], list[list[float]]]:
    """KAN 2.0 scores edge by edge, with the sub-node -> node map spelt out."""
    trace = model.trace(x)
    arity = model.config.mult_arity
    score = [1.0] * model.out_features
    nodes: list[list[float]] = [score]
    edges: list[list[list[float]]] = []
    for l in reversed(range(len(trace.layers))):
        n_sum = model.width[l + 1][0]
        edge_values, outputs = trace.layers[l].edges.detach(), trace.layers[l].outputs.detach()
        n_in, n_out = edge_values.shape[1:]
        owner = [j if j < n_sum else n_sum + (j - n_sum) // arity for j in range(n_out)]
        table = [
            [
                float(edge_values[:, i, j].std(correction=0))
                / (float(outputs[:, j].std(correction=0)) + EPS)
                * score[owner[j]]
                for j in range(n_out)
            ]
            for i in range(n_in)
        ]
        score = [sum(row) for row in table]
        edges.insert(0, table)
        nodes.insert(0, score)
    return edges, nodes


@pytest.fixture(scope="module")
def trained() -> tuple[KAN, Tensor, Tensor]:
    """[3, 5, 1] fitted with the sparsity penalty to y = sin(pi x0) + x1^2 (x2 irrelevant)."""
    x = batch(128, 3, seed=1)
    y = torch.sin(math.pi * x[:, :1]) + x[:, 1:2] ** 2
    model = KAN([3, 5, 1], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fit(model, x, y, config=FitConfig(steps=120, sparsity=3e-2, log_every=60))
    return model, x, y


def test_scores_match_the_edge_by_edge_definition(tol) -> None:
    # product nodes in the hidden layer and at the output
    model = KAN(
        [2, [2, 2], [1, 1]], dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    x = batch(64, 2)
    scores = attribute(model, x)
    expected_edges, expected_nodes = reference_scores(model, x)
    for computed, expected in zip(scores.edges, expected_edges, strict=True):
        torch.testing.assert_close(
            computed,
            torch.tensor(expected, dtype=torch.float64),
            rtol=0,
            atol=tol.values(torch.float64),
        )
    for computed, node_values in zip(scores.nodes, expected_nodes, strict=True):
        torch.testing.assert_close(
            computed,
            torch.tensor(node_values, dtype=torch.float64),
            rtol=0,
            atol=tol.values(torch.float64),
        )
    assert [tuple(e.shape) for e in edge_scores(model, x)] == [(2, 6), (4, 3)]
    assert [tuple(n.shape) for n in node_scores(model, x)] == [(2,), (4,), (2,)]
    assert torch.equal(scores.nodes[-1], torch.ones(2, dtype=torch.float64))
    # a product node's score is passed to each of its sub-nodes
    assert torch.equal(scores.subnodes[0][2:4], scores.nodes[1][2].expand(2))


def test_exactly_zero_parts_score_exactly_zero() -> None:
    model = zero_node_kan()
    scores = attribute(model, batch(100, 2))
    hidden = scores.nodes[1]
    assert hidden[1] == 0 and hidden[2] == 0
    assert hidden[0] > 0 and hidden[3] > 0
    assert scores.nodes[0][1] == 0 and scores.nodes[0][0] > 0
    first, second = scores.edges
    assert torch.all(first[1] == 0)  # out of the dead input
    assert torch.all(first[:, 1] == 0) and torch.all(first[:, 2] == 0)  # into dead nodes
    assert torch.all(second[1:3] == 0)
    assert torch.all(first[0, [0, 3, 4]] > 0) and torch.all(second[[0, 3]] > 0)


def test_prune_removes_exactly_the_zero_nodes(tol) -> None:
    model = zero_node_kan()
    x = batch(100, 2)
    before, config = snapshot(model), model.config
    pruned = prune(model, x, threshold=1e-12)
    assert pruned.width == ((2, 0), (1, 1), (1, 0))
    assert pruned_width(model, x, threshold=1e-12) == pruned.width
    old_first, old_second = model.kan_layers()
    new_first, new_second = pruned.kan_layers()
    kept_subnodes, kept_nodes = [0, 3, 4], [0, 3]
    assert torch.equal(new_first.coefficients, old_first.coefficients[:, kept_subnodes])
    assert new_first.base_weight is not None and old_first.base_weight is not None
    assert torch.equal(new_first.base_weight, old_first.base_weight[:, kept_subnodes])
    assert torch.equal(new_first.spline_weight, old_first.spline_weight[:, kept_subnodes])
    assert torch.equal(new_second.coefficients, old_second.coefficients[kept_nodes])
    assert torch.equal(new_second.grid, old_second.grid[kept_nodes])
    assert (new_first.in_features, new_first.out_features) == (2, 3)
    assert (new_second.in_features, new_second.out_features) == (2, 1)
    # the removed edges were exactly zero: the output changes by round-off only
    torch.testing.assert_close(pruned(x), model(x), rtol=0, atol=tol.values(torch.float64))
    assert_unchanged(model, before, config)


def test_prune_masks_low_score_edges_and_drops_inputs(tol) -> None:
    model = zero_node_kan()
    x = batch(100, 2)
    masked = prune(model, x, threshold=1e-12, edge_threshold=1e-12)
    mask = masked.kan_layers()[0].mask
    assert torch.all(mask[1] == 0) and torch.all(mask[0] == 1)
    torch.testing.assert_close(masked(x), model(x), rtol=0, atol=tol.values(torch.float64))
    smaller = prune(model, x, threshold=1e-12, keep_inputs=False)
    assert smaller.width == ((1, 0), (1, 1), (1, 0)) and smaller.in_features == 1
    torch.testing.assert_close(smaller(x[:, :1]), model(x), rtol=0, atol=tol.values(torch.float64))
    only, kept = prune_inputs(model, x, threshold=1e-12)
    assert kept == [0] and only.width == ((1, 0), (3, 1), (1, 0))
    torch.testing.assert_close(only(x[:, kept]), model(x), rtol=0, atol=tol.values(torch.float64))


def test_prune_removes_a_product_node_as_a_whole(tol) -> None:
    model = KAN([2, [2, 2], 1], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    switch_off(model.kan_layers()[1], rows=2)  # outgoing edges of the first product node
    x = batch(80, 2)
    pruned = prune(model, x, threshold=1e-12)
    assert pruned.width == ((2, 0), (2, 1), (1, 0))
    old_first, old_second = model.kan_layers()
    new_first, new_second = pruned.kan_layers()
    assert torch.equal(new_first.coefficients, old_first.coefficients[:, [0, 1, 4, 5]])
    assert torch.equal(new_second.coefficients, old_second.coefficients[[0, 1, 3]])
    torch.testing.assert_close(pruned(x), model(x), rtol=0, atol=tol.values(torch.float64))


def test_prune_keeps_the_best_node_of_every_hidden_level() -> None:
    model = KAN([2, 4, [2, 1], 1], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x = batch(50, 2)
    scores = attribute(model, x)
    pruned = prune(model, x, threshold=1e9)
    assert [sum(pair) for pair in pruned.width] == [2, 1, 1, 1]
    best = int(torch.argmax(scores.nodes[1]))
    assert torch.equal(
        pruned.kan_layers()[0].coefficients[:, 0], model.kan_layers()[0].coefficients[:, best]
    )
    # threshold 0 keeps everything
    assert prune(model, x, threshold=0.0).width == model.width


def test_trained_sparse_model_prunes_to_the_relevant_part(trained) -> None:
    model, x, y = trained
    before, config = snapshot(model), model.config
    pruned = prune(model, x)
    assert pruned.width[0] == (3, 0) and pruned.width[2] == (1, 0)
    assert 1 <= pruned.width[1][0] < 5
    hidden = attribute(model, x).nodes[1]
    removed = hidden < THRESHOLD
    assert int(removed.sum()) == 5 - pruned.width[1][0]
    with torch.no_grad():
        change = (pruned(x) - model(x))[:, 0]
        magnitudes = edge_magnitudes(model, x)[1][:, 0]
        sigma = model.trace(x).layers[1].outputs[:, 0].std(correction=0)
    # y - y' is the sum of the removed last-layer edges, so by the triangle inequality:
    # spread: std(y - y') <= sum_removed E_i < n_removed * threshold * (sigma + eps),
    # offset: mean |y - y'| <= sum_removed mean |phi_i|
    bound = int(removed.sum()) * THRESHOLD * (float(sigma) + EPS)
    assert float(change.std(correction=0)) <= bound
    assert float(change.abs().mean()) <= float(magnitudes[removed].sum()) * (1 + 1e-9)
    # the L1 term drove the removed edges' magnitudes to threshold-relative size
    assert float(magnitudes[removed].sum()) <= int(removed.sum()) * THRESHOLD * float(y.std())
    assert_unchanged(model, before, config)


def test_prune_inputs_drops_the_irrelevant_variable(trained) -> None:
    model, x, y = trained
    before, config = snapshot(model), model.config
    smaller, kept = prune_inputs(model, x)
    assert kept == [0, 1]
    assert smaller.width == ((2, 0), (5, 0), (1, 0)) and smaller.in_features == 2
    with torch.no_grad():
        change = smaller(x[:, kept]) - model(x)
    # x2's relative score < threshold: to first order its share of the output spread is below
    # threshold * std(y)
    assert float(change.pow(2).mean().sqrt()) <= THRESHOLD * float(y.std())
    assert_unchanged(model, before, config)


def test_pruned_model_survives_a_checkpoint_round_trip(trained, tmp_path: Path) -> None:
    model, x, _ = trained
    pruned = prune(model, x, edge_threshold=THRESHOLD)
    save_model(pruned, tmp_path / "pruned.pt")
    loaded = load_model(tmp_path / "pruned.pt")
    assert isinstance(loaded, KAN) and loaded.config == pruned.config
    assert torch.equal(loaded(x), pruned(x))
    smaller, kept = prune_inputs(model, x)
    save_model(smaller, tmp_path / "inputs.pt")
    reloaded = load_model(tmp_path / "inputs.pt")
    assert reloaded.in_features == len(kept)
    assert torch.equal(reloaded(x[:, kept]), smaller(x[:, kept]))


def test_float32_and_gradients_after_pruning() -> None:
    model = KAN([2, 3, 1], generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    x = batch(30, 2).float()
    scores = attribute(model, x)
    assert all(s.dtype == torch.float32 for s in scores.nodes + scores.edges)
    pruned = prune(model, x, threshold=0.2)
    pruned(x).sum().backward()
    assert all(p.grad is not None for p in pruned.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_errors() -> None:
    model = zero_node_kan()
    x = batch(10, 2)
    mlp = MLP([2, 4, 1], dtype=torch.float64)
    with pytest.raises(ConfigError, match=r"prune needs a KAN.*received MLP"):
        prune(mlp, x)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"attribute needs a KAN.*received MLP"):
        attribute(mlp, x)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match="prune: threshold must be a finite number >= 0; received -1"
    ):
        prune(model, x, threshold=-1)
    with pytest.raises(
        ConfigError, match="prune: edge_threshold must be a finite number >= 0; received nan"
    ):
        prune(model, x, edge_threshold=math.nan)
    with pytest.raises(
        ConfigError, match="prune: keep_inputs must be True or False; received 'no'"
    ):
        prune(model, x, keep_inputs="no")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"prune_inputs: threshold .* must be in \[0, 1\]; received 2"
    ):
        prune_inputs(model, x, threshold=2)
    with pytest.raises(ConfigError, match="pruned_width: threshold must be a finite number >= 0"):
        pruned_width(model, x, threshold=-0.5)
    with pytest.raises(ConfigError, match="attribute: eps must be a finite number > 0; received 0"):
        attribute(model, x, eps=0)
    with pytest.raises(ShapeError, match=r"at least 2 rows .*received shape \(1, 2\)"):
        prune(model, x[:1])
    with pytest.raises(ShapeError, match=r"must have shape \(N, 2\)"):
        prune(model, batch(10, 3))
    symbolic = copy.deepcopy(model)
    symbolic.kan_layers()[1].symbolic = nn.Identity()  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="prune: prune before fixing symbolic edges; layer 1"):
        prune(symbolic, x)
    with pytest.raises(ConfigError, match="prune_inputs: prune before fixing symbolic edges"):
        prune_inputs(symbolic, x)
