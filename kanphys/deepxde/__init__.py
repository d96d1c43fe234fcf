"""KAN networks for DeepXDE's PyTorch backend: a one-line swap for ``dde.nn.FNN``.

.. code-block:: python

    import deepxde as dde
    from kanphys.deepxde import KAN

    net = KAN([2, 8, 8, 1], grid_size=5, input_bounds=([-1, -1], [1, 1]))  # was dde.nn.FNN
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)
    model.train(iterations=5000)
    formulas = to_formula(net, points, names=["x", "y"])

DeepXDE is imported on first use (``pip install 'kanphys[deepxde]'``). Its backend must be
PyTorch: when neither ``DDE_BACKEND`` nor DeepXDE's config file chooses one, this module sets
``DDE_BACKEND=pytorch`` for the current process before importing DeepXDE (DeepXDE would
otherwise pick the first backend it finds and write its config file); a different choice is
refused with instructions. Nothing is ever written to DeepXDE's config file.

What DeepXDE expects and how this module meets it:

* DeepXDE's ``NN`` base class only stores the input and output transforms, so
  :class:`KAN`'s ``forward`` applies them itself (hard constraints depend on it);
* parameters take DeepXDE's float type (``dde.config.real(torch)``; float64 after
  ``dde.config.set_default_float("float64")``), read when the network is built;
* DeepXDE's PyTorch regulariser knows only L1 and L2 of all weights: the KAN sparsity penalty
  (L1 + entropy of the edge magnitudes) enters as an extra loss term through the
  :class:`Sparsity` callback instead;
* grid updates change parameter shapes: :class:`GridUpdate` replaces the network's KAN and
  rebuilds the optimiser over the new parameters (Adam-type optimisers only: DeepXDE's L-BFGS
  loop counts the optimiser's own iterations).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy
import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.deepxde._backend import load_deepxde
from kanphys.deepxde.bridge import DeepXDEProblem, to_deepxde
from kanphys.errors import ConfigError, KanphysError, ShapeError

if TYPE_CHECKING:
    from kanphys.models import KAN as CoreKAN
    from kanphys.symbolic.library import Library

__all__ = [
    "KAN",
    "DeepXDEProblem",
    "GridUpdate",
    "Sparsity",
    "load_deepxde",
    "to_deepxde",
    "to_formula",
]

logger = logging.getLogger(__name__)


def _bounds(input_bounds: Any, d: int) -> tuple[np.ndarray, np.ndarray] | None:
    if input_bounds is None:
        return None
    try:
        low, high = (np.broadcast_to(np.asarray(b, dtype=np.float64), (d,)) for b in input_bounds)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"input_bounds must be (lows, highs), each a number or {d} numbers; "
            f"received {input_bounds!r}"
        ) from err
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (high > low).all()):
        raise ConfigError(
            f"input_bounds must be finite with highs > lows; received lows {low.tolist()}, "
            f"highs {high.tolist()}"
        )
    return low.copy(), high.copy()


@functools.cache
def _classes() -> dict[str, type]:
    """The DeepXDE-derived classes, built on first use (DeepXDE imported then)."""
    dde = load_deepxde()
    from kanphys.models import KAN as CoreKAN
    from kanphys.models import update_grid
    from kanphys.training.regularization import evenly_spaced_rows, sparsity_penalty

    class KAN(dde.nn.pytorch.NN):  # type: ignore[misc, name-defined]
        """A kanphys KAN as a DeepXDE network (``dde.nn.FNN``'s place in a script).

        Parameters
        ----------
        layer_sizes : list
            ``[inputs, hidden..., outputs]`` as for ``dde.nn.FNN``; a hidden entry may be
            ``[n_sum, n_mult]`` for product nodes (KAN 2.0).
        basis : str
            Edge basis (``"bspline"``, ``"chebyshev"``, ``"rbf"``, ...; see
            :mod:`kanphys.basis`).
        grid_size, spline_order, base_activation, mult_arity, noise_scale
            As for :class:`kanphys.models.KAN`.
        input_bounds : (lows, highs), optional
            Bounds of the network's inputs (after any feature transform): they are mapped
            affinely onto the grid range [-1, 1]. Default: inputs are used as they are.
        seed : int, optional
            Seed of the initialisation (a private generator; the global one is untouched).

        The parameters take DeepXDE's float type at construction (``dde.config.real``).
        """

        def __init__(
            self,
            layer_sizes: Sequence[int | Sequence[int]],
            basis: str = "bspline",
            grid_size: int = 5,
            spline_order: int = 3,
            *,
            input_bounds: Any = None,
            base_activation: str | None = "silu",
            mult_arity: int = 2,
            noise_scale: float = 0.1,
            seed: int | None = None,
        ) -> None:
            super().__init__()
            dtype = dde.config.real(torch)
            generator = None if seed is None else torch.Generator().manual_seed(int(seed))
            self.kan: CoreKAN = CoreKAN(
                list(layer_sizes),
                basis=basis,
                grid_size=grid_size,
                spline_order=spline_order,
                base_activation=base_activation,
                mult_arity=mult_arity,
                noise_scale=noise_scale,
                dtype=dtype,
                generator=generator,
            )
            bounds = _bounds(input_bounds, self.kan.in_features)
            self.input_bounds = bounds
            if bounds is not None:
                low, high = (torch.as_tensor(b, dtype=dtype) for b in bounds)
                self.register_buffer("_low", low)
                self.register_buffer("_scale", 2.0 / (high - low))

        def features(self, inputs: Tensor, *, finite: bool = True) -> Tensor:
            """What the KAN itself sees: the feature transform, then the bounds' scaling.

            The transformed inputs are checked (shape, dtype, device and, with ``finite``,
            their values) before the scaling.
            """
            x = inputs
            if self._input_transform is not None:
                x = self._input_transform(x)
            check_input(
                x,
                self.kan.in_features,
                name="inputs",
                owner="kanphys.deepxde.KAN",
                like=self.kan.kan_layers()[0].coefficients,
                finite=finite,
            )
            if self.input_bounds is not None:
                x = (x - self._low) * self._scale - 1.0
            return x

        def forward(self, inputs: Tensor) -> Tensor:
            # in training the values are not read (no device synchronisation per step): a NaN
            # there shows as DeepXDE's NaN loss; predictions (eval mode) are checked
            x = self.features(inputs, finite=not self.training)
            out: Tensor = self.kan.forward_unchecked(x)
            if self._output_transform is not None:
                out = self._output_transform(inputs, out)
            return out

    class Sparsity(dde.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Adds ``weight * (l1 |Phi|_1 + entropy S(Phi))`` of the KAN's edge magnitudes on
        each training batch as one more loss term (shown last in DeepXDE's loss display).

        DeepXDE's PyTorch regulariser knows only L1/L2 of the weights, so the penalty enters
        through the data object's loss functions during ``model.train(...,
        callbacks=[Sparsity(...)])``; they are restored when training ends. ``loss_weights``
        given to ``compile`` get a weight of 1 for the extra term meanwhile.

        Parameters
        ----------
        weight : float
        l1, entropy : float
            Factors of the L1 and entropy terms (KAN defaults 1 and 2).
        samples : int
            Rows of the batch (evenly spaced) the edge magnitudes are averaged over.
        """

        def __init__(
            self, weight: float = 1e-3, l1: float = 1.0, entropy: float = 2.0, samples: int = 256
        ) -> None:
            super().__init__()
            for name, value in (("weight", weight), ("l1", l1), ("entropy", entropy)):
                if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                    raise ConfigError(
                        f"Sparsity: {name} must be a finite number >= 0; received {value!r}"
                    )
            if not (isinstance(samples, int) and samples >= 1):
                raise ConfigError(f"Sparsity: samples must be an integer >= 1; got {samples!r}")
            self.weight, self.l1, self.entropy, self.samples = weight, l1, entropy, samples
            self._saved: dict[str, Any] = {}

        def _net(self, net: Any = None) -> Any:
            net = self.model.net if net is None else net
            if not isinstance(net, KAN):
                raise ConfigError(
                    f"Sparsity needs a kanphys.deepxde.KAN network; the model has "
                    f"{type(net).__name__}"
                )
            return net

        def penalty(self, inputs: Tensor, net: Any = None) -> Tensor:
            """The weighted penalty of ``net`` (default: the model's) on (evenly spaced rows
            of) ``inputs``."""
            net = self._net(net)
            x = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            rows = evenly_spaced_rows(net.features(x, finite=False), self.samples)
            return self.weight * sparsity_penalty(net.kan, rows, l1=self.l1, entropy=self.entropy)

        def on_train_begin(self) -> None:
            self._net()
            data = self.model.data
            self._saved = {"loss_weights": self.model.loss_weights}
            for name in ("losses_train", "losses_test"):
                original = getattr(data, name)
                self._saved[name] = original
                setattr(data, name, self._wrap(original))
            if self.model.loss_weights is not None:
                self.model.loss_weights = [*list(self.model.loss_weights), 1.0]

        def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
            def losses(
                targets: Any, outputs: Any, loss_fn: Any, inputs: Any, model: Any, **kw: Any
            ) -> Any:
                found = original(targets, outputs, loss_fn, inputs, model, **kw)
                found = list(found) if isinstance(found, (list, tuple)) else [found]
                return [*found, self.penalty(inputs)]

            return losses

        def on_train_end(self) -> None:
            data = self.model.data
            for name in ("losses_train", "losses_test"):
                if name in self._saved:
                    # the instance attributes shadowed the class's methods
                    data.__dict__.pop(name, None)
            if "loss_weights" in self._saved:
                self.model.loss_weights = self._saved["loss_weights"]
            self._saved = {}

    class GridUpdate(dde.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Adapt the KAN's grids to the training points every ``period`` iterations.

        The network's KAN is replaced by :func:`kanphys.models.update_grid` of it on the
        current training points (the new grids follow the distribution of each layer's
        inputs, the new coefficients reproduce the old network by least squares), and the
        optimiser is rebuilt over the new parameters with the same settings (its moments
        restart). A fresh Adam moves every parameter by about its full step size at once, so
        the step size then ramps linearly from ``1 / (warmup + 1)`` of its value back to it
        over ``warmup`` iterations. Only for Adam-type optimisers: with L-BFGS it logs a
        warning and does nothing.

        Parameters
        ----------
        period : int
            Iterations between updates.
        stop : int, optional
            No update after this iteration (grids are best frozen before the end).
        warmup : int
            Iterations of the step-size ramp after each update (0: none).
        """

        def __init__(self, period: int = 1000, stop: int | None = None, warmup: int = 100) -> None:
            super().__init__()
            if not (isinstance(period, int) and period >= 1):
                raise ConfigError(f"GridUpdate: period must be an integer >= 1; got {period!r}")
            if stop is not None and not (isinstance(stop, int) and stop >= 0):
                raise ConfigError(f"GridUpdate: stop must be an integer >= 0; got {stop!r}")
            if isinstance(warmup, bool) or not (isinstance(warmup, int) and warmup >= 0):
                raise ConfigError(f"GridUpdate: warmup must be an integer >= 0; got {warmup!r}")
            self.period, self.stop, self.warmup = period, stop, warmup
            self.updates = 0
            self._warned = False
            # (optimiser, its groups' step sizes, iterations since the update) while ramping
            self._ramp: tuple[Any, list[float], int] | None = None

        def on_batch_begin(self) -> None:
            if self._ramp is None:
                return
            optimizer, rates, done = self._ramp
            if optimizer is not self.model.opt:  # recompiled meanwhile: not ours to change
                self._ramp = None
                return
            factor = min(1.0, (done + 1) / (self.warmup + 1))
            for group, rate in zip(optimizer.param_groups, rates, strict=True):
                group["lr"] = rate * factor
            self._ramp = None if factor == 1.0 else (optimizer, rates, done + 1)

        def on_epoch_end(self) -> None:
            state = self.model.train_state
            step = int(state.step)
            if step == 0 or step % self.period or (self.stop is not None and step > self.stop):
                return
            if isinstance(self.model.opt, torch.optim.LBFGS):
                if not self._warned:
                    logger.warning("GridUpdate: no grid updates during L-BFGS")
                    self._warned = True
                return
            net = self.model.net
            if not isinstance(net, KAN):
                raise ConfigError(
                    f"GridUpdate needs a kanphys.deepxde.KAN network; the model has "
                    f"{type(net).__name__}"
                )
            x = state.X_train[0] if isinstance(state.X_train, (tuple, list)) else state.X_train
            inputs = torch.as_tensor(x, dtype=next(net.kan.parameters()).dtype)
            old = list(net.kan.parameters())
            with torch.no_grad():
                net.kan = update_grid(net.kan, net.features(inputs))
            if getattr(self.model, "lr_scheduler", None) is not None:
                raise KanphysError(
                    "GridUpdate cannot rebuild the optimiser of a model compiled with a "
                    "learning-rate decay; compile without decay, or drop GridUpdate"
                )
            self.model.opt = _rebuilt(self.model.opt, old, list(net.kan.parameters()))
            self.updates += 1
            if self.warmup:
                rates = [float(group["lr"]) for group in self.model.opt.param_groups]
                self._ramp = (self.model.opt, rates, 0)

        def on_train_end(self) -> None:
            if self._ramp is not None:  # training stopped mid-ramp: leave the full step sizes
                optimizer, rates, _ = self._ramp
                for group, rate in zip(optimizer.param_groups, rates, strict=True):
                    group["lr"] = rate
                self._ramp = None

    return {"KAN": KAN, "Sparsity": Sparsity, "GridUpdate": GridUpdate}


def _rebuilt(
    optimizer: torch.optim.Optimizer, old: Sequence[Tensor], new: Sequence[Tensor]
) -> torch.optim.Optimizer:
    """The same optimiser (class, settings, parameter groups) with ``old`` replaced by ``new``."""
    old_ids = {id(p) for p in old}
    groups = []
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if id(p) not in old_ids]
        if len(params) != len(group["params"]):
            params = [*new, *params]
        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params})
    return type(optimizer)(groups, **optimizer.defaults)


def __getattr__(name: str) -> Any:
    if name in ("KAN", "Sparsity", "GridUpdate"):
        return _classes()[name]
    raise AttributeError(f"module 'kanphys.deepxde' has no attribute {name!r}")


def to_formula(
    net: Any,
    x: Tensor | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    library: Library | Sequence[str] | None = None,
    prune_threshold: float = 1e-2,
    r2_tolerance: float = 1e-6,
    refit: bool = True,
    simplify: bool = True,
) -> list[sympy.Expr]:
    """The formulas of a trained DeepXDE :class:`KAN`, one per output, in its input names.

    The network is pruned (edges and nodes whose attribution on ``x`` is below
    ``prune_threshold``), every remaining edge is fitted by a primitive of the library
    (:func:`~kanphys.symbolic.fix.auto_symbolic`), and the network's formula is built with
    ``input_bounds``' scaling undone; with ``refit`` its constants are then refitted to the
    network's values on ``x`` and snapped to simple values (for each output). The trained
    network is left untouched.

    The formula is that of the network's output before any output transform (a hard
    constraint ``u = x (1 - x) N(x)`` is applied by the user on top of it), in the features
    when a feature transform is set.

    Parameters
    ----------
    net : kanphys.deepxde.KAN
    x : Tensor or array, shape (N, inputs)
        Points to fit on (e.g. ``data.train_x``), N >= 20.
    names : sequence of str, optional
        Input names; default ``x1, x2, ...``.
    library : Library or names, optional
        Primitives tried on each edge.
    prune_threshold : float
    r2_tolerance : float
        Edges take the simplest primitive whose R^2 is within this of the best one's (raise it,
        e.g. to 1e-3, when a nearly linear edge is read as a sine).
    refit, simplify : bool

    Returns
    -------
    list of sympy.Expr
    """
    from kanphys.pruning import prune
    from kanphys.symbolic import auto_symbolic, network_formula
    from kanphys.symbolic.constants import simplify_formula, snap_constants

    kan_class: Any = _classes()["KAN"]
    if not isinstance(net, kan_class):
        raise ConfigError(
            f"to_formula expects a kanphys.deepxde.KAN; received {type(net).__name__}"
        )
    core = net.kan
    dtype = next(core.parameters()).dtype
    inputs = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=dtype)
    d = core.in_features
    if inputs.dim() != 2 or inputs.shape[0] < 20:
        raise ShapeError(
            f"to_formula: x must have shape (N, inputs) with N >= 20; received "
            f"{tuple(inputs.shape)}"
        )
    if names is None:
        names = [f"x{k + 1}" for k in range(d)]
    names = list(names)
    if len(names) != d:
        raise ConfigError(f"to_formula: names must have {d} entries; received {names!r}")
    symbols = [sympy.Symbol(n, real=True) for n in names]
    with torch.no_grad():
        raw = inputs if net._input_transform is None else net._input_transform(inputs)
        features = net.features(inputs)
        values = core(features)
    if raw.shape[1] != d:
        raise ShapeError(f"to_formula: the feature transform gives {raw.shape[1]} columns, not {d}")
    model = prune(core, features, threshold=prune_threshold, edge_threshold=prune_threshold)
    model, _ = auto_symbolic(model, features, library=library, r2_tolerance=r2_tolerance)
    scaled = list(symbols)
    if net.input_bounds is not None:
        low, high = net.input_bounds
        scaled = [
            2 * (s - float(lo)) / float(hi - lo) - 1
            for s, lo, hi in zip(symbols, low, high, strict=True)
        ]
    formulas = []
    for k, expr in enumerate(network_formula(model, scaled)):
        if refit and expr.free_symbols:
            chain = snap_constants(expr, raw, values[:, k], symbols)
            expr = chain[-1][0]
        formulas.append(simplify_formula(expr) if simplify else expr)
    return formulas
