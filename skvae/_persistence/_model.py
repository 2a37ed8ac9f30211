"""The torch half of a record: the module's spec, weights and Adam state.

``save`` checks that the module is the one the parameters and the fitted
likelihood describe; ``load`` derives the module's spec from validated
metadata, builds it on ``torch.device("meta")`` (which allocates nothing) to
learn every tensor's name, shape and dtype, checks the file's tensor entries
against those exactly, and only then reads tensors and builds the module from
its spec (``VAEModule(**spec)``), with the optimizer ``fit`` would have built.
"""

import math
from numbers import Real

import numpy as np
import torch

from .._architectures import make_architecture
from .._likelihoods import make_likelihood
from .._module import VAEModule
from .._optim import make_optimizer
from ._messages import Invalid, quote

__all__ = ["module_spec", "expected_likelihood", "expected_tensors", "build"]

# Adam's per-parameter state, as torch >= 2.0 keeps it for skvae's optimizer.
_ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
_MAX_WIDTH = 2**31


def expected_likelihood(params, n_features, tabular=None):
    """The likelihood ``fit`` builds from the parameters (or the table encoder)."""
    if tabular is not None:
        return tabular.likelihood()
    return make_likelihood(
        params["likelihood"],
        covariance=params.get("covariance", "diagonal"),
        n_features=n_features,
    )


def module_spec(params, likelihood, n_features, n_conditions=0, n_components=None):
    """The :attr:`VAEModule.spec` that ``fit`` builds; ValueError if none.

    ``n_components``: the fitted latent width (``n_latent_``, checked against
    the parameters by the schema); ``params["n_components"]`` when None.
    """
    sizes = params["hidden_layer_sizes"]
    try:
        hidden = tuple(int(h) for h in np.ravel(sizes))
    except (TypeError, ValueError, OverflowError):
        hidden = None
    if hidden is None or np.ndim(sizes) > 1 or any(h < 1 for h in hidden):
        raise ValueError(
            "hidden_layer_sizes must be a flat sequence of positive integers, "
            f"got {quote(sizes)}."
        )
    n_outputs = likelihood.n_params(n_features)
    spec = {
        "n_features": int(n_features),
        "n_components": int(
            params["n_components"] if n_components is None else n_components
        ),
        "n_outputs": int(n_outputs),
        "hidden_layer_sizes": hidden,
        "activation": params["activation"] if "activation" in params else "relu",
        "n_shared": int(likelihood.n_shared_params(n_features)),
    }
    architecture = make_architecture(params.get("architecture", "mlp"))
    if n_conditions:  # a conditional decoder (the MLP's only)
        if architecture is not None:
            raise ValueError("a conditional decoder needs architecture='mlp'")
        spec["n_conditions"] = int(n_conditions)
    if architecture is not None:  # checked as fit checks it, before any build
        image_shape = params.get("image_shape")
        architecture.check_params(image_shape, int(n_features))
        spec["architecture"] = architecture
        spec["image_shape"] = None if image_shape is None else tuple(
            int(s) for s in image_shape
        )
    return spec


def check_widths(spec, entries):
    """Refuse a spec wider than any tensor stored, before building anything."""
    largest = max((max(e[1], default=1) for e in entries.values()), default=0)
    sizes = [
        spec["n_features"],
        spec["n_components"],
        spec["n_outputs"] - spec["n_shared"],
        spec["n_shared"],
        spec.get("n_conditions", 0),
        *spec["hidden_layer_sizes"],
    ]
    if "architecture" in spec:
        # the network spreads the features over channels: only the latent
        # width and the shared parameters are whole tensor dimensions
        sizes = [spec["n_components"], spec["n_shared"]]
        channels = getattr(spec["architecture"], "channels", ())
        sizes += list(channels) if isinstance(channels, tuple | list) else []
        if not entries or max(sizes) > min(max(
            (max(e[1], default=1) for e in entries.values()), default=0
        ), _MAX_WIDTH) or spec["n_features"] > _MAX_WIDTH:
            raise Invalid(
                f"its parameters describe layers (sizes {quote(sizes)}) that its "
                "weights cannot hold"
            )
        return
    if (
        not entries
        or max(sizes) > min(largest, _MAX_WIDTH)
        or len(spec["hidden_layer_sizes"]) > len(entries)
    ):
        raise Invalid(
            f"its parameters describe layers (sizes {quote(sizes)}) that its weights "
            f"cannot hold (largest dimension {largest})"
        )


def meta_module(spec):
    """The module of ``spec`` on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return VAEModule(**spec)


def expected_tensors(spec, optimizer_entries):
    """Names, shapes and dtypes of the module and Adam tensors a fit of
    ``spec`` has: ``{"module.<name>": (dtype, shape)}`` and the optimizer's
    (all parameters with state, or none when no step was taken)."""
    module = meta_module(spec)
    expected = {
        f"module.{k}": (v.dtype, tuple(v.shape)) for k, v in module.state_dict().items()
    }
    if optimizer_entries:
        for i, p in enumerate(module.parameters()):
            expected[f"optimizer.{i}.step"] = (torch.float32, ())
            expected[f"optimizer.{i}.exp_avg"] = (p.dtype, tuple(p.shape))
            expected[f"optimizer.{i}.exp_avg_sq"] = (p.dtype, tuple(p.shape))
    return module, expected


def check_entries(entries, expected, prefix):
    """The file's tensor entries must be exactly the expected ones."""
    missing = sorted(expected.keys() - entries.keys())
    extra = sorted(entries.keys() - expected.keys())
    if extra:
        names = [prefix + k for k in extra]
        kind = (
            "module weights do not match the model"
            if all(k.startswith("module.") for k in extra)
            else None
        )
        if kind and not missing:
            raise Invalid(f"its {kind} (unexpected: {quote(names)})")
        raise Invalid(f"it holds an unexpected tensor {quote(names[0])}")
    if missing:
        if any(k.startswith("optimizer.") for k in missing):
            raise Invalid(
                f"its Adam optimizer state is incomplete (missing: {quote(missing)})"
            )
        raise Invalid(
            f"its module weights do not match the model (missing: {quote(missing)})"
        )
    for key, (dtype, shape) in expected.items():
        got_dtype, got_shape = entries[key][0], entries[key][1]
        if got_dtype != dtype or got_shape != shape:
            raise Invalid(
                f"tensor '{prefix}{key}' has shape {list(got_shape)} and dtype "
                f"{got_dtype}, expected {list(shape)} and {dtype}"
            )


def learning_rate(doc, n_params):
    """The param group of the optimizer document, its learning rate checked."""
    groups = doc.get("param_groups") if type(doc) is dict else None
    if type(groups) is not list or len(groups) != 1 or type(groups[0]) is not dict:
        raise Invalid("its optimizer param_groups do not match the model")
    lr = groups[0].get("lr")
    if (
        not isinstance(lr, Real)
        or isinstance(lr, bool | np.bool_)
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise Invalid("its optimizer learning rate is missing or invalid")
    if groups[0].get("params") != list(range(n_params)):
        raise Invalid("its optimizer param_groups list the wrong parameters")
    if doc.get("state") not in ({}, None):
        raise Invalid("its optimizer state holds values Adam does not keep")
    return groups[0]


def check_optimizer_tensors(tensors, prefix):
    """Adam's state as ``fit`` leaves it: finite, steps whole and non-negative,
    second moments non-negative."""
    for key, tensor in tensors.items():
        name = key.rsplit(".", 1)[-1]
        where = f"tensor '{prefix}{key}'"
        if not torch.isfinite(tensor).all():
            raise Invalid(f"{where} holds non-finite values")
        if name == "step" and not (tensor >= 0 and tensor == torch.round(tensor)):
            raise Invalid(f"{where} is not a whole number of steps >= 0")
        if name == "exp_avg_sq" and (tensor < 0).any():
            raise Invalid(f"{where} holds negative second moments")
    steps = {float(t) for k, t in tensors.items() if k.endswith(".step")}
    if len(steps) > 1:
        raise Invalid("its Adam optimizer steps differ between parameters")


def build(spec, tensors, group, target, prefix):
    """The module and optimizer from checked tensors, on ``target``."""
    module_state = {
        k[len("module.") :]: t for k, t in tensors.items() if k.startswith("module.")
    }
    for key, tensor in module_state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise Invalid(f"tensor '{prefix}module.{key}' holds non-finite values")
    optimizer_tensors = {k: t for k, t in tensors.items() if k.startswith("optimizer.")}
    check_optimizer_tensors(optimizer_tensors, prefix)
    module = meta_module(spec).to_empty(device=target)
    module.load_state_dict(module_state)
    module.eval()
    optimizer = make_optimizer(module.parameters(), group["lr"])
    fresh = optimizer.state_dict()
    state = {}
    for key, tensor in optimizer_tensors.items():
        _, index, name = key.split(".")
        state.setdefault(int(index), {})[name] = tensor
    groups = [{**fresh["param_groups"][0], "lr": group["lr"]}]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return module, optimizer


# --------------------------------------------------------------------- save


def check_rebuildable(
    estimator, params, likelihood, n_inputs, n_conditions=0, n_components=None
):
    """Refuse to save a module that ``load`` would not rebuild from the record
    (``n_components``: the fitted latent width, as for :func:`module_spec`)."""
    message = (
        "cannot save: the estimator's parameters were changed after fit and no "
        "longer describe the fitted module (e.g. hidden_layer_sizes, activation, "
        "n_components or likelihood). Refit, or set them back, before saving."
    )
    try:
        spec = module_spec(params, likelihood, n_inputs, n_conditions, n_components)
    except ValueError as exc:
        raise ValueError(
            f"cannot save: the parameters no longer describe the fitted model ({exc})"
        ) from None
    module = estimator.module_
    if getattr(module, "spec", spec) != spec:
        raise ValueError(message)
    meta = meta_module(spec)
    ours, theirs = module.state_dict(), meta.state_dict()
    same = ours.keys() == theirs.keys() and all(
        ours[k].shape == theirs[k].shape for k in ours
    )
    if not same or repr(meta) != repr(module):
        raise ValueError(message)
    return spec


def model_tensors(estimator):
    """The CPU tensors of ``module_`` and ``optimizer_``, and the optimizer doc."""
    tensors = {}
    for key, value in estimator.module_.state_dict().items():
        tensor = value.detach().to("cpu").contiguous()
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(
                f"cannot save: module_ weight {key!r} holds non-finite values."
            )
        tensors[f"module.{key}"] = tensor
    state = estimator.optimizer_.state_dict()
    scalars = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(
                    f"cannot save: optimizer_ state {index}/{key} is not a tensor."
                )
            tensors[f"optimizer.{index}.{key}"] = value.detach().to("cpu").contiguous()
    return tensors, {"param_groups": state["param_groups"], "state": scalars}
