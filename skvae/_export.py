"""skvae.to_onnx: the scikit-learn face of the ONNX export.

Checks the estimator and the example input as the estimator's own methods
do, then hands the fitted module to :mod:`skvae._onnx_export` (the torch
side). onnx is imported only when a model is exported.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted

from ._base import _BaseAutoencoder
from ._onnx_export import METHODS, export_module
from ._version import __version__

__all__ = ["to_onnx", "TABLE_REFUSAL"]

#: why a model fitted on a table is not exported, and what to do instead
TABLE_REFUSAL = (
    "{name} was fitted on a table (a mixed-type DataFrame, missing='mask' or "
    "numeric_scaling='quantile'), whose encoding runs in Python and is not "
    "exported to ONNX. Fit the equivalent scikit-learn pipeline instead, which "
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
    estimator : VAETransformer or AutoencoderTransformer
        A fitted estimator (any architecture: the MLP, ``"conv"``, or a
        :class:`CustomArchitecture` whose modules ``torch.export`` can trace;
        any likelihood).
    X : array-like of shape (n_samples, n_features) or None, default=None
        An example input of the method: rows of data for ``"transform"`` and
        ``"sample"``, latent rows of width ``n_components`` for
        ``"inverse_transform"``. Only its dtype and width are used: float32
        gives a float32 graph; float64 (or any other numeric dtype, which the
        estimator's methods turn into float64) a float64 graph computed in
        float64, as the estimator computes for float64 input. None: float32.
    method : {"transform", "inverse_transform", "sample"}, default="transform"
        What the graph computes:

        - ``"transform"``: input ``X``, output ``Z``, the means of q(z | x);
        - ``"inverse_transform"``: input ``Z`` (latent rows), output
          ``X_mean``, the mean of p(x | z);
        - ``"sample"`` (:class:`VAETransformer` only): inputs ``X`` and
          ``noise`` (standard normal draws of shape ``(n_samples,
          n_components)``), output ``X_sample``, the decoder mean at
          ``z = mu(x) + sigma(x) * noise``: ``sample(X=X)`` with the noise
          drawn by the caller (repeat rows of X for several draws each).
          Samples from the prior are ``"inverse_transform"`` of standard
          normal rows.
    target_opset : int or None, default=None
        ONNX opset of the graph, 18 or newer; None for torch's default.

    Returns
    -------
    model : onnx.ModelProto
        The ONNX model; its ``metadata_props`` name the estimator, the method
        and the skvae version.

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
    ``"sample"`` returns decoder means, as ``sample`` does by default.
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
    """
    if not isinstance(estimator, _BaseAutoencoder):
        raise TypeError(
            "skvae.to_onnx exports a VAETransformer or an AutoencoderTransformer, "
            f"got {type(estimator).__name__}; for a pipeline, `import skvae.onnx` "
            "and use skl2onnx.to_onnx(pipeline, X[:1])."
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
            module.n_components
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
    return export_module(
        module,
        estimator.likelihood_,
        method,
        dtype,
        opset=target_opset,
        metadata=metadata,
    )
