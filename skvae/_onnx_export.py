"""The torch side of the ONNX export: a fitted module's inference, as a graph.

Each exported method is a small ``nn.Module`` that calls the fitted
:class:`~skvae._module.VAEModule` and the likelihood exactly as the
estimator's method does (``encode``, ``decode``, ``reparameterize``,
``Likelihood.mean``): the maths is defined once, in the core, and
``torch.onnx``'s dynamo exporter (``torch.export`` plus onnxscript) turns it
into ONNX. No graph is written by hand. Tensors in, an ``onnx.ModelProto``
out; no scikit-learn here (the checks of the estimator live in
:mod:`skvae._export`).
"""

import contextlib
import copy
import inspect
import logging
import warnings

import torch
from torch import nn

from ._optional import import_optional

__all__ = ["METHODS", "CONDITIONAL_METHODS", "MIN_OPSET", "export_module"]

#: the exportable methods -> (input names, output name)
METHODS = {
    "transform": (("X",), "Z"),
    "inverse_transform": (("Z",), "X_mean"),
    "sample": (("X", "noise"), "X_sample"),
}

#: the same for a conditional module (``n_conditions > 0``): its decoder also
#: reads ``condition``, the encoded target rows (one per row), beside z
CONDITIONAL_METHODS = {
    "transform": (("X",), "Z"),
    "inverse_transform": (("Z", "condition"), "X_mean"),
    "sample": (("X", "condition", "noise"), "X_sample"),
}

#: the oldest ONNX opset the dynamo exporter writes
MIN_OPSET = 18


class _Transform(nn.Module):
    """``transform``: the means of q(z | x), in the first ``n_kept`` latent
    dimensions."""

    def __init__(self, module, likelihood, n_kept):
        super().__init__()
        self.module = module
        self.n_kept = n_kept

    def forward(self, x):
        return self.module.encode(x)[0][:, : self.n_kept]


class _InverseTransform(nn.Module):
    """``inverse_transform``: the mean of p(x | z) at latent rows of the
    ``n_kept`` first dimensions, the others at 0 (the prior mean)."""

    def __init__(self, module, likelihood, n_kept):
        super().__init__()
        self.module = module
        self.likelihood = likelihood
        self.n_dropped = module.n_components - n_kept

    def widen(self, z):
        return nn.functional.pad(z, (0, self.n_dropped)) if self.n_dropped else z

    def forward(self, z):
        return self.likelihood.mean(self.module.decode(self.widen(z)))


class _Sample(nn.Module):
    """``sample(X=...)``: the decoder mean at ``z = mu(x) + sigma(x) * noise``,
    the noise (standard normal, one row per row of x) given as an input."""

    def __init__(self, module, likelihood, n_kept):
        super().__init__()
        self.module = module
        self.likelihood = likelihood

    def forward(self, x, noise):
        loc, log_scale = self.module.encode(x)
        z = self.module.reparameterize(loc, log_scale, noise)
        return self.likelihood.mean(self.module.decode(z))


class _ConditionalInverseTransform(_InverseTransform):
    """``inverse_transform(Z, y)``: the mean of p(x | z, c) at latent rows,
    given their condition rows c."""

    def forward(self, z, condition):
        return self.likelihood.mean(self.module.decode(self.widen(z), condition))


class _ConditionalSample(_Sample):
    """``sample(X=..., y=...)``: the decoder mean given the condition rows c at
    ``z = mu(x) + sigma(x) * noise``."""

    def forward(self, x, condition, noise):
        loc, log_scale = self.module.encode(x)
        z = self.module.reparameterize(loc, log_scale, noise)
        return self.likelihood.mean(self.module.decode(z, condition))


_WRAPPERS = {
    "transform": _Transform,
    "inverse_transform": _InverseTransform,
    "sample": _Sample,
}

_CONDITIONAL_WRAPPERS = {
    "transform": _Transform,  # the encoder q(z | x) reads no condition
    "inverse_transform": _ConditionalInverseTransform,
    "sample": _ConditionalSample,
}


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress lines and its notes about optional
    torchvision operators; real errors still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_module(
    module, likelihood, method, dtype, *, opset=None, metadata=None, n_kept=None
):
    """Export one inference method of a fitted module to ONNX.

    Parameters
    ----------
    module : VAEModule
        The fitted module; it is copied (to the CPU, in ``dtype``), never
        changed.
    likelihood : Likelihood
        Its likelihood, whose ``mean`` maps decoder outputs to data space.
    method : {"transform", "inverse_transform", "sample"}
        What the graph computes (see :data:`METHODS` for its inputs and
        output, and :data:`CONDITIONAL_METHODS` for a module whose decoder
        reads ``n_conditions`` condition columns: an input ``condition`` of
        that width, one row per latent row, besides).
    dtype : torch.dtype
        ``torch.float32`` or ``torch.float64``: the graph's input, weights and
        output.
    opset : int or None, default=None
        ONNX opset of the graph (at least :data:`MIN_OPSET`); None for the
        exporter's default.
    metadata : dict of str to str, optional
        Written into the model's ``metadata_props``.
    n_kept : int, optional
        The latent columns ``transform`` returns and ``inverse_transform``
        takes (an estimator's ``n_components_``; the others decoded at 0);
        all of them when None. ``sample`` uses every latent dimension.

    Returns
    -------
    model : onnx.ModelProto
        With a dynamic first (batch) axis on every input and the output.

    Raises
    ------
    ValueError
        If ``torch.onnx`` cannot export the network (a user module with
        data-dependent control flow or NumPy calls in ``forward``, for
        instance); the exporter's own error is chained.

    Examples
    --------
    >>> import torch
    >>> from skvae import GaussianLikelihood
    >>> from skvae._module import VAEModule
    >>> from skvae._onnx_export import export_module
    >>> module = VAEModule(8, 2, 16, hidden_layer_sizes=(4,), n_shared=8)
    >>> model = export_module(module, GaussianLikelihood(), "transform",
    ...                       torch.float32)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['X'], ['Z'])
    """
    onnx = import_optional("onnx")
    import_optional("onnxscript")  # torch.onnx's dynamo exporter needs it
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise ImportError(
            f"skvae exports with torch.onnx's dynamo exporter, which torch "
            f"{torch.__version__} lacks; it needs torch>=2.5."
        )
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(
            f"skvae exports ONNX opset {MIN_OPSET} or newer (torch.onnx's "
            f"exporter), got target_opset={opset}."
        )
    conditional = bool(getattr(module, "n_conditions", 0))
    names, output = (CONDITIONAL_METHODS if conditional else METHODS)[method]
    wrapper = (_CONDITIONAL_WRAPPERS if conditional else _WRAPPERS)[method]
    module = copy.deepcopy(module).to(device="cpu", dtype=dtype).eval()
    n_kept = module.n_components if n_kept is None else int(n_kept)
    net = wrapper(module, likelihood, n_kept).eval()
    widths = {
        "X": module.spec["n_features"],
        "Z": n_kept,
        "noise": module.n_components,
        "condition": getattr(module, "n_conditions", 0),
    }
    # two rows: torch.export specialises a batch of one to the constant 1
    args = tuple(torch.zeros(2, widths[name], dtype=dtype) for name in names)
    batch = torch.export.Dim("batch")
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                net,
                args,
                dynamo=True,
                input_names=list(names),
                output_names=[output],
                dynamic_shapes=tuple({0: batch} for _ in names),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
    except ImportError as exc:  # the installed versions, not the model
        raise ImportError(
            f"torch.onnx's exporter failed to import what it needs ({exc}); "
            f"torch {torch.__version__} needs a newer onnxscript and onnx: "
            'pip install -U "skvae[onnx]"'
        ) from exc
    except Exception as exc:  # the exporter's (or a user module's) failure
        message = str(exc).strip().splitlines()
        first = message[0][:300] if message else ""
        raise ValueError(
            f"torch.onnx could not export the model's {method} "
            f"({type(exc).__name__}: {first}). Every module inside must be "
            "traceable by torch.export: no data-dependent Python control flow "
            "(if/while on tensor values), no NumPy or .item() calls in forward; "
            "see the module contract of skvae.CustomArchitecture."
        ) from exc
    model = program.model_proto
    if model.functions:  # plain graphs, for runtimes and graph surgery alike
        model = onnx.inliner.inline_local_functions(model)
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    return model
