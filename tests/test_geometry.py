"""Tests for kanphys.pde.geometry: membership, samplers, evaluation grids and validation.

Statistical checks use fixed seeds and tolerances of 5 standard deviations (binomial or CLT),
so a correct sampler fails them with probability ~1e-6 and a biased one fails them always.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import pytest
import sympy
import torch
from scipy.stats import qmc

from kanphys.errors import ConfigError, ShapeError
from kanphys.pde.geometry import SAMPLING_METHODS, Geometry
from kanphys.pde.problem import Domain, input_symbol

RANDOM_METHODS = ("uniform", "sobol", "lhs")
L_SHAPE = ((-1.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0))
U_SHAPE = ((0, 0), (4, 0), (4, 2), (2, 2), (2, 1), (1, 1), (1, 2), (0, 2))  # arms [0,1], [2,4]
DISK: dict[str, Any] = {"shape": "disk", "center": (0.5, 0.25), "radius": 1.5}
EPS_NORMAL = 1e-6  # step along the normal: far above rounding, far below the feature sizes

DOMAINS = {
    "box": Domain(inputs=("x", "y"), bounds=((-1.0, 1.0), (0.0, 2.0))),
    "box_time": Domain(inputs=("x", "t"), bounds=((0.0, 3.0), (0.0, 2.0)), time="t"),
    "disk": Domain(inputs=("x", "y"), bounds=((-1.0, 2.0), (-1.25, 1.75)), **DISK),
    "disk_time": Domain(
        inputs=("t", "x", "y"), bounds=((0.0, 1.0), (-2.0, 3.0), (-2.0, 2.0)), time="t", **DISK
    ),
    "cylinder": Domain(
        inputs=("x", "y", "z"), bounds=((-1.0, 2.0), (-1.25, 1.75), (0.0, 2.0)), **DISK
    ),
    "l_shape": Domain(
        inputs=("x", "y"), bounds=((-1.0, 1.0), (-1.0, 1.0)), shape="polygon", vertices=L_SHAPE
    ),
    "l_shape_cw_time": Domain(
        inputs=("x", "y", "t"),
        bounds=((-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)),
        time="t",
        shape="polygon",
        vertices=L_SHAPE[::-1],
    ),
}


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def binomial_tolerance(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n)


def boundary_distance(domain: Domain, points: torch.Tensor) -> np.ndarray:
    """Distance of each point to the spatial boundary, computed independently of the module."""
    p = points.double().numpy()
    column = {name: i for i, name in enumerate(domain.inputs)}
    planar = domain.spatial[:2] if domain.shape != "box" else ()
    distances = []
    for name in domain.spatial:
        if name not in planar and name not in domain.periodic:
            low, high = domain.bound(name)
            distances += [abs(p[:, column[name]] - low), abs(p[:, column[name]] - high)]
    if planar:
        xy = p[:, [column[v] for v in planar]]
        if domain.shape == "disk":
            distances.append(abs(np.linalg.norm(xy - domain.center, axis=1) - domain.radius))
        else:
            start = np.asarray(domain.vertices, dtype=float)
            direction = np.roll(start, -1, axis=0) - start
            offset = xy[:, None, :] - start
            t = np.clip((offset * direction).sum(-1) / (direction**2).sum(-1), 0, 1)
            gap = np.linalg.norm(offset - t[..., None] * direction, axis=-1)
            distances.append(gap.min(axis=1))
    return np.min(distances, axis=0)


def in_l_notch(points: torch.Tensor) -> torch.Tensor:
    return (points[:, 0] > 0) & (points[:, 1] > 0)


# ------------------------------------------------------------------ interior
@pytest.mark.parametrize("name", DOMAINS)
@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_interior_samples_lie_inside(name: str, method: str) -> None:
    domain = DOMAINS[name]
    geometry = Geometry(domain)
    points = geometry.sample_interior(500, method=method, generator=generator())
    assert points.dtype == torch.float64 and points.shape[1] == len(domain.inputs)
    if method == "grid":
        assert 0.6 * 500 <= points.shape[0] <= 1.6 * 500
    else:
        assert points.shape[0] == 500
    assert bool(geometry.contains(points, tol=0.0).all())
    if domain.shape == "polygon":
        xy = points[:, [domain.inputs.index("x"), domain.inputs.index("y")]]
        assert not bool(in_l_notch(xy).any())


@pytest.mark.parametrize("method", RANDOM_METHODS)
def test_disk_interior_is_uniform_in_area(method: str) -> None:
    geometry = Geometry(DOMAINS["disk"])
    n = 4000
    points = geometry.sample_interior(n, method=method, generator=generator(1))
    offset = points - torch.tensor(DISK["center"], dtype=torch.float64)
    inner = float((offset.norm(dim=1) < DISK["radius"] / 2).double().mean())
    assert abs(inner - 0.25) < binomial_tolerance(0.25, n)
    right = float((offset[:, 0] > 0).double().mean())
    assert abs(right - 0.5) < binomial_tolerance(0.5, n)


def test_box_interior_mean_is_the_centre() -> None:
    geometry = Geometry(DOMAINS["box"])
    n = 4000
    points = geometry.sample_interior(n, generator=generator(2))
    centre = torch.tensor([0.0, 1.0], dtype=torch.float64)
    standard_error = 2.0 / math.sqrt(12) / math.sqrt(n)  # both sides have length 2
    assert float((points.mean(0) - centre).abs().max()) < 5 * standard_error


def test_l_shape_interior_fills_the_three_squares() -> None:
    points = Geometry(DOMAINS["l_shape"]).sample_interior(3000, generator=generator(3))
    lower_left = float(((points[:, 0] < 0) & (points[:, 1] < 0)).double().mean())
    assert abs(lower_left - 1 / 3) < binomial_tolerance(1 / 3, 3000)


def test_quasi_random_points_have_lower_discrepancy_than_uniform() -> None:
    geometry = Geometry(DOMAINS["box"])
    low = torch.tensor([-1.0, 0.0], dtype=torch.float64)

    def discrepancy(method: str) -> float:
        values = []
        for seed in range(3):
            points = geometry.sample_interior(256, method=method, generator=generator(seed))
            values.append(qmc.discrepancy(((points - low) / 2.0).numpy()))
        return float(np.mean(values))

    uniform = discrepancy("uniform")
    assert discrepancy("sobol") < 0.5 * uniform
    assert discrepancy("lhs") < uniform


def test_sobol_warns_nothing_and_global_rng_is_untouched() -> None:
    torch_state, numpy_state = torch.get_rng_state(), repr(np.random.get_state())  # noqa: NPY002
    geometry = Geometry(DOMAINS["l_shape"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in RANDOM_METHODS:
            geometry.sample_interior(100, method=method, generator=generator())
            geometry.sample_boundary(100, method=method, generator=generator())
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert repr(np.random.get_state()) == numpy_state  # noqa: NPY002


# ------------------------------------------------------------------ boundary
@pytest.mark.parametrize("name", DOMAINS)
@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_boundary_points_and_outward_normals(name: str, method: str) -> None:
    domain = DOMAINS[name]
    geometry = Geometry(domain)
    points, normals = geometry.sample_boundary(300, method=method, generator=generator())
    assert points.shape == normals.shape
    if method != "grid":
        assert points.shape[0] == 300
    assert boundary_distance(domain, points).max() < 1e-12
    assert float((normals.norm(dim=1) - 1).abs().max()) < 1e-12
    if domain.time is not None:
        time = domain.inputs.index(domain.time)
        assert bool((normals[:, time] == 0).all())
        low, high = domain.bound(domain.time)
        assert float(points[:, time].min()) >= low and float(points[:, time].max()) <= high
    assert not bool(geometry.contains(points + EPS_NORMAL * normals, tol=0.0).any())
    assert bool(geometry.contains(points - EPS_NORMAL * normals, tol=0.0).all())


def test_box_boundary_is_spread_by_face_measure() -> None:
    domain = Domain(inputs=("x", "y", "t"), bounds=((0.0, 3.0), (0.0, 1.0), (0.0, 2.0)), time="t")
    points, normals = Geometry(domain).sample_boundary(800, generator=generator())
    # faces x = 0, x = 3 have length 1; faces y = 0, y = 1 have length 3 (times the same T)
    assert int((normals[:, 0] == -1).sum()) == 100 and int((normals[:, 0] == 1).sum()) == 100
    assert int((normals[:, 1] == -1).sum()) == 300 and int((normals[:, 1] == 1).sum()) == 300
    assert bool((points[normals[:, 0] == 1, 0] == 3.0).all())
    standard_error = 2.0 / math.sqrt(12) / math.sqrt(800)
    assert abs(float(points[:, 2].mean()) - 1.0) < 5 * standard_error


def test_cylinder_boundary_splits_lateral_surface_and_caps_by_area() -> None:
    n = 1000
    _, normals = Geometry(DOMAINS["cylinder"]).sample_boundary(n, generator=generator())
    radius, height = DISK["radius"], 2.0
    lateral, cap = 2 * math.pi * radius * height, math.pi * radius**2
    on_caps = int((normals[:, 2] != 0).sum())
    assert abs(on_caps - n * 2 * cap / (lateral + 2 * cap)) <= 1


def test_disk_boundary_angles_are_uniform() -> None:
    n = 4000
    points, normals = Geometry(DOMAINS["disk"]).sample_boundary(n, generator=generator(4))
    offset = points - torch.tensor(DISK["center"], dtype=torch.float64)
    assert torch.allclose(offset / DISK["radius"], normals, atol=1e-12, rtol=0)
    quadrant = float(((offset[:, 0] > 0) & (offset[:, 1] > 0)).double().mean())
    assert abs(quadrant - 0.25) < binomial_tolerance(0.25, n)


def test_polygon_boundary_is_spread_by_edge_length() -> None:
    n = 4000
    points, _ = Geometry(DOMAINS["l_shape"]).sample_boundary(n, generator=generator(5))
    bottom = float((points[:, 1] == -1.0).double().mean())  # length 2 of the perimeter 8
    assert abs(bottom - 0.25) < binomial_tolerance(0.25, n)


def test_periodic_faces_get_no_boundary_points() -> None:
    domain = Domain(inputs=("x", "y"), bounds=((0.0, 1.0), (-1.0, 1.0)), periodic=("x",))
    points, normals = Geometry(domain).sample_boundary(200, generator=generator())
    assert bool((points[:, 1].abs() == 1.0).all())
    assert bool((normals[:, 0] == 0).all()) and bool((normals[:, 1].abs() == 1).all())
    cylinder = dataclasses.replace(DOMAINS["cylinder"], periodic=("z",))
    _, normals = Geometry(cylinder).sample_boundary(200, generator=generator())
    assert bool((normals[:, 2] == 0).all())
    periodic = Domain(inputs=("x", "t"), bounds=((0.0, 1.0), (0.0, 1.0)), time="t", periodic=("x",))
    with pytest.raises(
        ConfigError, match=r"no spatial boundary: every spatial input is in domain\.periodic"
    ):
        Geometry(periodic).sample_boundary(10, generator=generator())


def test_one_dimensional_box_boundary_is_the_two_end_points() -> None:
    geometry = Geometry(Domain(inputs=("x",), bounds=((0.0, 2.0),)))
    for method in SAMPLING_METHODS:
        points, normals = geometry.sample_boundary(10, method=method, generator=generator())
        assert points[:, 0].tolist() == [0.0] * 5 + [2.0] * 5
        assert normals[:, 0].tolist() == [-1.0] * 5 + [1.0] * 5
    points, normals = geometry.sample_boundary(1, generator=generator())  # one face gets none
    assert points.tolist() == [[0.0]] and normals.tolist() == [[-1.0]]
    plane = geometry.sample_plane("x", 0.5, 3, method="grid")
    assert plane.tolist() == [[0.5]] * 3
    grid, shape = geometry.evaluation_grid(5)
    assert shape == (5,) and grid[:, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]


# ------------------------------------------------------------------ planes
def test_initial_plane_covers_the_disk_at_t0() -> None:
    domain = DOMAINS["disk_time"]
    geometry = Geometry(domain)
    points = geometry.sample_plane("t", 0.0, 2000, generator=generator())
    assert bool((points[:, 0] == 0.0).all()) and bool(geometry.contains(points, tol=0.0).all())
    offset = points[:, 1:] - torch.tensor(DISK["center"], dtype=torch.float64)
    inner = float((offset.norm(dim=1) < DISK["radius"] / 2).double().mean())
    assert abs(inner - 0.25) < binomial_tolerance(0.25, 2000)


@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_box_face_plane(method: str) -> None:
    geometry = Geometry(DOMAINS["box"])
    points = geometry.sample_plane("x", -1.0, 400, method=method, generator=generator())
    assert bool((points[:, 0] == -1.0).all()) and bool(geometry.contains(points, tol=0.0).all())
    assert float(points[:, 1].min()) < 0.05 and float(points[:, 1].max()) > 1.95


def test_disk_chord_has_the_right_endpoints_and_is_uniform() -> None:
    n = 2000
    value = 1.4  # the chord x = 1.4: y in cy -+ sqrt(R^2 - 0.9^2) = 0.25 -+ 1.2
    points = Geometry(DOMAINS["disk"]).sample_plane("x", value, n, generator=generator())
    assert bool((points[:, 0] == value).all())
    y = points[:, 1]
    low, high, length = 0.25 - 1.2, 0.25 + 1.2, 2.4
    assert float(y.min()) >= low - 1e-12 and float(y.max()) <= high + 1e-12
    slack = 10 * length / n  # P(no point within slack of an end) ~ exp(-10)
    assert float(y.min()) < low + slack and float(y.max()) > high - slack
    assert abs(float(y.mean()) - 0.25) < 5 * length / math.sqrt(12 * n)


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [(0.5, -1.0, 0.0), (-0.5, -1.0, 1.0), (0.0, -1.0, 1.0), (1.0, -1.0, 0.0)],
)
def test_l_shape_plane_through_the_notch(value: float, low: float, high: float) -> None:
    geometry = Geometry(DOMAINS["l_shape"])
    points = geometry.sample_plane("x", value, 1000, generator=generator())
    y = points[:, 1]
    assert bool((points[:, 0] == value).all()) and bool(geometry.contains(points).all())
    assert float(y.min()) >= low and float(y.max()) <= high
    assert float(y.min()) < low + 0.02 * (high - low) and float(y.max()) > high - 0.02
    grid = geometry.sample_plane("x", value, 50, method="grid")
    assert float(grid[:, 1].min()) >= low and float(grid[:, 1].max()) <= high


@pytest.mark.parametrize("method", [*RANDOM_METHODS, "grid"])
def test_polygon_plane_with_two_segments_is_sampled_by_length(method: str) -> None:
    domain = Domain(
        inputs=("x", "y"), bounds=((0.0, 4.0), (0.0, 2.0)), shape="polygon", vertices=U_SHAPE
    )
    n = 3000
    points = Geometry(domain).sample_plane("y", 1.5, n, method=method, generator=generator())
    x = points[:, 0]
    assert bool((points[:, 1] == 1.5).all())
    assert not bool(((x > 1) & (x < 2)).any()) and float(x.min()) >= 0 and float(x.max()) <= 4
    left = float((x <= 1).double().mean())
    assert abs(left - 1 / 3) < binomial_tolerance(1 / 3, n)


# ------------------------------------------------------------------ reproducibility, dtypes
@pytest.mark.parametrize("method", RANDOM_METHODS)
def test_same_seed_same_points_different_seed_different_points(method: str) -> None:
    geometry = Geometry(DOMAINS["l_shape_cw_time"])
    for sample in (
        lambda seed: geometry.sample_interior(64, method=method, generator=generator(seed)),
        lambda seed: geometry.sample_boundary(64, method=method, generator=generator(seed))[0],
        lambda seed: geometry.sample_plane("x", 0.5, 64, method=method, generator=generator(seed)),
    ):
        assert torch.equal(sample(7), sample(7))
        assert not torch.equal(sample(7), sample(8))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["box_time", "disk_time", "l_shape"])
def test_outputs_have_the_requested_dtype(dtype: torch.dtype, name: str) -> None:
    geometry = Geometry(DOMAINS[name])
    interior = geometry.sample_interior(100, generator=generator(), dtype=dtype)
    points, normals = geometry.sample_boundary(100, generator=generator(), dtype=dtype)
    plane = geometry.sample_plane("x", 0.5, 100, generator=generator(), dtype=dtype)
    grid, _ = geometry.evaluation_grid(100, dtype=dtype)
    for tensor in (interior, points, normals, plane, grid):
        assert tensor.dtype == dtype and tensor.device.type == "cpu"
    for tensor in (interior, points, plane, grid):
        assert bool(geometry.contains(tensor).all())  # default tol covers rounding to dtype


# ------------------------------------------------------------------ distance, grids, measure
@pytest.mark.parametrize("name", ["box", "box_time", "disk", "disk_time", "cylinder"])
def test_boundary_distance_expression_vanishes_on_the_boundary(name: str) -> None:
    domain = DOMAINS[name]
    geometry = Geometry(domain)
    expression = geometry.boundary_distance_expression()
    assert expression is not None
    assert expression.free_symbols <= {input_symbol(v) for v in domain.spatial}
    function = sympy.lambdify([input_symbol(v) for v in domain.inputs], expression, "numpy")
    boundary, _ = geometry.sample_boundary(200, generator=generator())
    interior = geometry.sample_interior(200, generator=generator())
    on_boundary = function(*boundary.numpy().T) * np.ones(len(boundary))
    inside = function(*interior.numpy().T) * np.ones(len(interior))
    assert np.abs(on_boundary).max() < 1e-11
    assert inside.min() > 0 and inside.max() <= 1 + 1e-12  # O(1): the maximum is 1


def test_boundary_distance_expression_formulas() -> None:
    x, y, z = (input_symbol(v) for v in "xyz")
    box = Geometry(DOMAINS["box"]).boundary_distance_expression()
    assert sympy.simplify(box - (x + 1) * (1 - x) * y * (2 - y)) == 0
    disk = Geometry(DOMAINS["disk"]).boundary_distance_expression()
    half, quarter, r2 = sympy.Rational(1, 2), sympy.Rational(1, 4), sympy.Rational(9, 4)
    expected = (r2 - (x - half) ** 2 - (y - quarter) ** 2) / r2
    assert sympy.simplify(disk - expected) == 0
    periodic = Domain(inputs=("x", "z"), bounds=((0.0, 1.0), (0.0, 2.0)), periodic=("x",))
    assert sympy.simplify(Geometry(periodic).boundary_distance_expression() - z * (2 - z)) == 0
    assert Geometry(DOMAINS["l_shape"]).boundary_distance_expression() is None


def test_box_evaluation_grid_is_a_cartesian_product_with_endpoints() -> None:
    points, shape = Geometry(DOMAINS["box"]).evaluation_grid(100)
    assert shape == (10, 10)
    expected = torch.cartesian_prod(
        torch.linspace(-1.0, 1.0, 10, dtype=torch.float64),
        torch.linspace(0.0, 2.0, 10, dtype=torch.float64),
    )
    assert torch.equal(points, expected)
    cube = Domain(inputs=("a", "b", "c"), bounds=((0.0, 1.0),) * 3)
    points, shape = Geometry(cube).evaluation_grid(1000)
    assert shape == (10, 10, 10) and points.shape == (1000, 3)
    assert points[1].tolist() == [0.0, 0.0, 1 / 9]  # 'ij': the last input varies fastest


@pytest.mark.parametrize("name", ["disk", "l_shape", "disk_time"])
def test_shaped_evaluation_grid_keeps_inside_points_and_exposes_the_mask(name: str) -> None:
    geometry = Geometry(DOMAINS[name])
    points, shape = geometry.evaluation_grid(8000)
    mask, full_shape = geometry.evaluation_grid_mask(8000)
    assert shape is None and mask.shape == (math.prod(full_shape),)
    assert points.shape[0] == int(mask.sum()) and bool(geometry.contains(points).all())
    fraction = points.shape[0] / mask.numel()
    area_fraction = {"disk": math.pi / 4, "disk_time": math.pi / 4, "l_shape": 0.75}[name]
    # only grid cells cut by the boundary err: perimeter * spacing / box area <= 4 / (k - 1)
    assert abs(fraction - area_fraction) < 4 / (full_shape[-1] - 1)
    ranges = zip(geometry.bounding_box, full_shape, strict=True)
    axes = [torch.linspace(lo, hi, k, dtype=torch.float64) for (lo, hi), k in ranges]
    assert torch.equal(torch.cartesian_prod(*axes)[mask], points)


def test_measure_and_bounding_box() -> None:
    assert Geometry(DOMAINS["box"]).measure == pytest.approx(4.0)
    assert Geometry(DOMAINS["box_time"]).measure == pytest.approx(6.0)
    assert Geometry(DOMAINS["disk_time"]).measure == pytest.approx(math.pi * 2.25)
    assert Geometry(DOMAINS["cylinder"]).measure == pytest.approx(math.pi * 2.25 * 2)
    assert Geometry(DOMAINS["l_shape"]).measure == pytest.approx(3.0)
    assert Geometry(DOMAINS["l_shape_cw_time"]).measure == pytest.approx(3.0)
    assert Geometry(DOMAINS["disk_time"]).bounding_box == ((0.0, 1.0), (-1.0, 2.0), (-1.25, 1.75))
    assert Geometry(DOMAINS["box"]).bounding_box == ((-1.0, 1.0), (0.0, 2.0))


def test_contains_on_hand_picked_points() -> None:
    geometry = Geometry(DOMAINS["l_shape"])
    points = torch.tensor(
        [[-0.5, 0.5], [0.5, -0.5], [0.1, 0.5], [0.0, 0.5], [1.0, -0.2], [1.1, -0.5]],
        dtype=torch.float64,
    )
    assert geometry.contains(points).tolist() == [True, True, False, True, True, False]
    assert geometry.contains(points, tol=0.2).tolist() == [True, True, True, True, True, True]
    disk = Geometry(DOMAINS["disk"])
    rim = torch.tensor([[0.5 + 1.5, 0.25], [0.5, 0.25 - 1.5 - 1e-9]], dtype=torch.float64)
    assert disk.contains(rim).tolist() == [True, False]
    with pytest.raises(ShapeError, match=r"shape \(N, 2\)"):
        geometry.contains(torch.zeros(3, 3, dtype=torch.float64))


# ------------------------------------------------------------------ errors
SQUARE: dict[str, Any] = {"inputs": ("x", "y"), "bounds": ((-1.0, 1.0), (-1.0, 1.0))}


def polygon(vertices: Any, **kwargs: Any) -> Domain:
    return Domain(**SQUARE, shape="polygon", vertices=vertices, **kwargs)


def disk(center: Any = (0.0, 0.0), radius: Any = 1.0, **kwargs: Any) -> Domain:
    return Domain(**SQUARE, shape="disk", center=center, radius=radius, **kwargs)


BAD_DOMAINS = [
    ("not a domain", r"domain must be a Domain"),
    (Domain(inputs=("x", "x"), bounds=((0, 1), (0, 1))), r"domain.inputs must be distinct"),
    (Domain(inputs=("x", "y"), bounds=((0, 1),)), r"domain.bounds must hold one"),
    (Domain(inputs=("x",), bounds=((1.0, 0.0),)), r"domain.bounds of 'x'"),
    (Domain(inputs=("x",), bounds=((0.0, math.inf),)), r"domain.bounds of 'x'"),
    (Domain(inputs=("x",), bounds=((0, 1),), time="t"), r"domain.time must be one of"),
    (Domain(inputs=("x",), bounds=((0, 1),), shape="ball"), r"domain.shape must be one of"),  # type: ignore[arg-type]
    (Domain(inputs=("x",), bounds=((0, 1),), radius=1.0), r"domain.radius is only used"),
    (disk(vertices=L_SHAPE), r"domain.vertices is only used with shape='polygon'"),
    (
        Domain(inputs=("x", "t"), bounds=((0, 1), (0, 1)), time="t", shape="disk"),
        r"needs at least two spatial inputs",
    ),
    (disk(center=None), r"domain.center must be a pair"),
    (disk(center=(0.0, math.nan)), r"domain.center must be a pair"),
    (disk(radius=0.0), r"domain.radius must be a finite number > 0"),
    (disk(radius=-1.0), r"domain.radius must be a finite number > 0"),
    (disk(center=(2.0, 0.0)), r"domain.center \(2.0, 0.0\) .* must lie inside domain.bounds"),
    (disk(radius=1.5), r"domain.radius 1.5 must lie inside domain.bounds"),
    (polygon(None), r"domain.vertices must list at least 3"),
    (polygon(((0, 0), (1, 0))), r"domain.vertices must list at least 3"),
    (polygon(((0, 0), (1, 0), (0, math.inf))), r"domain.vertices must list at least 3"),
    (polygon(((0, 0), (1, 0), (0, 1), (0, 0))), r"not repeat a vertex"),
    (polygon(((0, 0), (0.5, 0), (1, 0))), r"simple polygon"),  # zero area: folds back
    (polygon(((-1, -1), (1, 1), (1, -1), (-1, 1))), r"simple polygon; edges \(0, 2\)"),
    (polygon(((0, 0), (1, 0), (0.5, 0), (0.5, 1))), r"simple polygon"),
    (polygon(((0, 0), (2, 0), (0, 1))), r"domain.vertices must lie inside domain.bounds"),
    (Domain(inputs=("x",), bounds=((0, 1),), periodic=("z",)), r"domain.periodic .* 'z'"),
    (
        Domain(inputs=("x", "t"), bounds=((0, 1), (0, 1)), time="t", periodic=("t",)),
        r"domain.periodic must name spatial interval inputs \['x'\]",
    ),
    (disk(periodic=("x",)), r"domain.periodic must name spatial interval inputs \[\]"),
]


@pytest.mark.parametrize(("domain", "match"), BAD_DOMAINS)
def test_invalid_domains_raise_config_error(domain: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Geometry(domain)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: g.sample_interior(0, generator=generator()), r"n must be an integer >= 1"),
        (lambda g: g.sample_interior(2.5, generator=generator()), r"n must be an integer"),
        (lambda g: g.sample_boundary(True, generator=generator()), r"n must be an integer"),
        (lambda g: g.sample_interior(10, method="halton", generator=generator()), r"method"),
        (lambda g: g.sample_interior(10), r"generator must be a torch.Generator"),
        (lambda g: g.sample_boundary(10, generator=0), r"generator must be a torch.Generator"),
        (
            lambda g: g.sample_interior(10, generator=generator(), dtype=torch.int64),
            r"dtype must be a floating-point",
        ),
        (lambda g: g.sample_plane("z", 0.0, 10, generator=generator()), r"'z' \(value 0.0\)"),
        (
            lambda g: g.sample_plane("t", 1.5, 10, generator=generator()),
            r"t = 1.5 misses the domain; t must lie in \[0.0, 1.0\]",
        ),
        (
            lambda g: g.sample_plane("x", 2.5, 10, generator=generator()),
            r"x = 2.5 misses the domain; x must lie in \[-1.0, 2.0\]",
        ),
        (lambda g: g.sample_plane("y", math.nan, 10, generator=generator()), r"y = nan"),
        (lambda g: g.evaluation_grid(0), r"n_target must be an integer >= 1"),
        (lambda g: g.contains(torch.zeros(1, 3, dtype=torch.float64), tol=-1.0), r"tol must"),
    ],
)
def test_invalid_requests_raise_config_error(call: object, match: str) -> None:
    geometry = Geometry(DOMAINS["disk_time"])
    with pytest.raises(ConfigError, match=match):
        call(geometry)  # type: ignore[operator]


def test_polygon_plane_outside_the_vertices_names_the_range() -> None:
    geometry = Geometry(DOMAINS["l_shape"])
    with pytest.raises(
        ConfigError, match=r"y = 1.5 misses the domain; y must lie in \[-1.0, 1.0\]"
    ):
        geometry.sample_plane("y", 1.5, 10, generator=generator())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generator_and_device() -> None:
    geometry = Geometry(DOMAINS["l_shape_cw_time"])
    cuda = torch.Generator(device="cuda").manual_seed(0)
    for method in RANDOM_METHODS:
        interior = geometry.sample_interior(500, method=method, generator=cuda, device="cuda")
        points, normals = geometry.sample_boundary(
            500, method=method, generator=cuda, device="cuda"
        )
        assert interior.device.type == "cuda" and points.device.type == "cuda"
        assert bool(geometry.contains(interior, tol=0.0).all())
        assert not bool(geometry.contains(points + EPS_NORMAL * normals, tol=0.0).any())
