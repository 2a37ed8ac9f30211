"""skvae.to_onnx: the scikit-learn face of the ONNX export.

Checks the estimator and the example input as the estimator's own methods
do, then hands the fitted module to :mod:`skvae._onnx_export` (the torch
side). onnx is imported only when a model is exported.
"""

import json

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted

from ._base import _BaseAutoencoder
from ._onnx_export import METHODS, export_module
from ._version import __version__

__all__ = ["to_onnx", "TABLE_REFUSAL"]

#: why a model fitted on a table is not exported, and what to do instead
TABLE_REFUSAL = (
    "{name} was fitted on a table (a DataFrame, missing='mask' or "
    "numeric_scaling='quantile'), whose encoding runs in Python and is not "
    "exported to ONNX. Fit on X.to_numpy() when every column is a number "
    "(scaled first), or fit the equivalent scikit-learn pipeline, which "
    "converts: make_pipeline(make_column_transformer((StandardScaler(), "
    "numeric_columns), (OneHotEncoder(sparse_output=False), categorical_columns)), "
    "{name}(...)), with a SimpleImputer in front of columns with missing "
    "values; then `import skvae.onnx` and skl2onnx.to_onnx(pipeline, X[:1]) "
    "(see 'Serving: ONNX export' in the documentation)."
)


def to_onnx(estimator, X=None, *, method="transform", target_opset=None):
    """Export a fitted autoencoder's ``transform``, ``inverse_transform`` or
    ``sample`` to ONNX.

    The graph computes what the estimator's method computes, from the same
    torch code (``torch.onnx``'s dynamo exporter traces the fitted module),
    for any number of rows: its first axis is dynamic. Run it with
    onnxruntime (in a service, in C#, Java or a browser) without Python or
    torch. For a whole scikit-learn pipeline, ``import skvae.onnx`` and use
    ``skl2onnx.to_onnx``.

    Parameters
    ----------
    estimator : VAETransformer, ConditionalVAE or AutoencoderTransformer
        A fitted estimator (any architecture: the MLP, ``"conv"``, or a
        :class:`CustomArchitecture` whose modules ``torch.export`` can trace;
        any likelihood).
    X : array-like of shape (n_samples, n_features) or None, default=None
        An example input of the method: rows of data for ``"transform"`` and
        ``"sample"``, latent rows of width ``n_components_`` for
        ``"inverse_transform"``. Only its dtype and width are used: float32
        gives a float32 graph; float64 (or any other numeric dtype, which the
        estimator's methods turn into float64) a float64 graph computed in
        float64, as the estimator computes for float64 input. None: float32.
    method : {"transform", "inverse_transform", "sample"}, default="transform"
        What the graph computes:

        - ``"transform"``: input ``X``, output ``Z``, the means of q(z | x)
          (the ``n_components_`` columns of ``transform``);
        - ``"inverse_transform"``: input ``Z`` (latent rows of
          ``n_components_`` columns), output ``X_mean``, the mean of p(x | z);
        - ``"sample"`` (variational models, not
          :class:`AutoencoderTransformer`): inputs ``X`` and
          ``noise`` (standard normal draws of shape ``(n_samples,
          n_latent_)``, every latent dimension), output ``X_sample``, the
          decoder mean at
          ``z = mu(x) + sigma(x) * noise``: ``sample(X=X)`` with the noise
          drawn by the caller (repeat rows of X for several draws each).
          Samples from the prior are ``"inverse_transform"`` of standard
          normal rows.

        For a :class:`ConditionalVAE`, whose decoder reads the target y
        beside z (its encoder does not: ``"transform"`` is as above), the
        decoding graphs take one more input, ``condition``, of shape
        ``(n_rows, n_conditions_)`` and the graph's dtype, one row per latent
        row (or row of X):

        - ``"inverse_transform"``: inputs ``Z`` and ``condition``, output
          ``X_mean``, ``inverse_transform(Z, y)``;
        - ``"sample"``: inputs ``X``, ``condition`` and ``noise``, output
          ``X_sample``, ``sample(1, X=X, y=y)`` with the caller's noise;
          ``sample(n, y=y)`` (new rows of the classes y) is
          ``"inverse_transform"`` of standard normal rows with their
          condition rows.

        ``condition`` holds y as the decoder reads it, which
        :meth:`ConditionalVAE.encode_condition` computes: one-hot rows in
        the order of ``classes_`` for class labels, ``(y - y_mean_) /
        y_scale_`` for continuous targets. The graph takes this rather than
        y itself so that one input serves class labels of any type (strings,
        which an ONNX graph traced from torch cannot read, included) and
        continuous targets alike; a service without Python builds it from
        the model's metadata (``skvae_classes``, or ``skvae_y_mean`` and
        ``skvae_y_scale``, as JSON lists).
    target_opset : int or None, default=None
        ONNX opset of the graph, 18 or newer; None for torch's default.

    Returns
    -------
    model : onnx.ModelProto
        The ONNX model; its ``metadata_props`` name the estimator, the method
        and the skvae version, and for a graph with a ``condition`` input
        how to encode it (see ``method``).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If the estimator is not one of skvae's autoencoders.
    ValueError
        If ``method`` is unknown or the estimator lacks it, if X has the
        wrong width, if the model was fitted on a table (mixed-type
        DataFrame, ``missing="mask"``, ``numeric_scaling="quantile"``: the
        message names the scikit-learn pipeline to fit instead), or if a
        user module cannot be exported (the exporter's error is chained).
    ImportError
        If onnx or onnxscript is missing or too old for the installed torch
        (``pip install "skvae[onnx]"``), or torch is older than 2.5 (which
        has no dynamo exporter).

    Notes
    -----
    The decoder's noise (``sample(decoder_noise=True)``) is not exported;
    ``"sample"`` returns decoder means, as ``sample`` does by default. Nor is
    a :class:`ConditionalVAE`'s ``sample(n)`` without y, which draws the
    classes from ``class_prior_``: draw them in the caller and feed their
    one-hot rows as ``condition``.
    onnxruntime's CPU provider has no float64 convolutions, so export
    ``architecture="conv"`` models with float32 X to run them there (the
    float64 graph is valid ONNX all the same).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skvae import VAETransformer, to_onnx
    >>> X = np.random.RandomState(0).rand(100, 8).astype(np.float32)
    >>> vae = VAETransformer(2, hidden_layer_sizes=(16,), max_iter=2,
    ...                      random_state=0).fit(X)
    >>> model = to_onnx(vae, X)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['X'], ['Z'])
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> Z = session.run(None, {"X": X})[0]
    >>> np.allclose(Z, vae.transform(X), rtol=1e-5, atol=1e-6)
    True

    A conditional model's decoder, given the classes to decode with:

    >>> from skvae import ConditionalVAE
    >>> y = np.arange(100) % 3
    >>> cvae = ConditionalVAE(2, hidden_layer_sizes=(16,), max_iter=2,
    ...                       random_state=0).fit(X, y)
    >>> Z = cvae.transform(X)
    >>> model = to_onnx(cvae, Z, method="inverse_transform")
    >>> [i.name for i in model.graph.input]
    ['Z', 'condition']
    >>> condition = cvae.encode_condition(y).astype(np.float32)
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> X_mean = session.run(None, {"Z": Z, "condition": condition})[0]
    >>> np.allclose(X_mean, cvae.inverse_transform(Z, y), rtol=1e-5, atol=1e-6)
    True
    """
    if not isinstance(estimator, _BaseAutoencoder):
        raise TypeError(
            "skvae.to_onnx exports a VAETransformer, a ConditionalVAE or an "
            f"AutoencoderTransformer, got {type(estimator).__name__}; for a "
            "pipeline, `import skvae.onnx` and use skl2onnx.to_onnx(pipeline, X[:1])."
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}.")
    name = type(estimator).__name__
    if method == "sample" and not hasattr(estimator, "sample"):
        raise ValueError(
            f"{name} has no sample method (its codes have no prior to draw from); "
            "export 'transform' or 'inverse_transform'."
        )
    check_is_fitted(estimator)
    if hasattr(estimator, "tabular_"):
        raise ValueError(TABLE_REFUSAL.format(name=name))
    module = estimator.module_
    dtype = torch.float32
    if X is not None:
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        dtype = torch.float32 if X.dtype == np.float32 else torch.float64
        width = (
            estimator.n_components_  # the kept columns, as transform's
            if method == "inverse_transform"
            else (estimator.n_features_in_)
        )
        what = "latent rows" if method == "inverse_transform" else "features"
        if X.shape[1] != width:
            raise ValueError(
                f"X has {X.shape[1]} features, but {name}.{method} takes {width} "
                f"{what} (as fitted)."
            )
    metadata = {
        "skvae_version": __version__,
        "skvae_estimator": name,
        "skvae_method": method,
    }
    if module.n_conditions and method != "transform":
        metadata.update(_condition_metadata(estimator))
    return export_module(
        module,
        estimator.likelihood_,
        method,
        dtype,
        opset=target_opset,
        metadata=metadata,
        n_kept=estimator.n_components_,
    )


def _condition_metadata(estimator):
    """How to build the ``condition`` input, for a service without Python:
    the classes (one-hot in their order), or the targets' mean and scale."""
    meta = {"skvae_n_conditions": str(estimator.n_conditions_)}
    if hasattr(estimator, "classes_"):
        meta["skvae_condition"] = "one-hot rows in the order of skvae_classes"
        meta["skvae_classes"] = json.dumps(estimator.classes_.tolist())
    else:
        meta["skvae_condition"] = "(y - skvae_y_mean) / skvae_y_scale"
        meta["skvae_y_mean"] = json.dumps(estimator.y_mean_.tolist())
        meta["skvae_y_scale"] = json.dumps(estimator.y_scale_.tolist())
    return meta
