"""skl2onnx converters for skvae's estimators, registered on import.

One line makes scikit-learn pipelines holding a :class:`~skvae.VAETransformer`,
a :class:`~skvae.ConditionalVAE` or an :class:`~skvae.AutoencoderTransformer`
convertible by skl2onnx, as other skl2onnx extensions (onnxmltools' XGBoost
and LightGBM converters) do::

    import skvae.onnx  # noqa: F401  (registers skvae's skl2onnx converters)

The converter embeds the graph of :func:`skvae.to_onnx` (``transform``, in
the pipeline's dtype and opset) in the pipeline's graph. A
:class:`~skvae.ConditionalVAE` converts too: its ``transform`` (the encoder
q(z | x)) reads X only, so the pipeline's graph needs no y, just as
``pipeline.transform`` does not. This module needs
the ``onnx`` extra (``pip install "skvae[onnx]"``); ``import skvae`` never
imports it.

Examples
--------
>>> import numpy as np
>>> import skl2onnx
>>> import skvae.onnx  # registers the converters
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from skvae import VAETransformer
>>> rng = np.random.RandomState(0)
>>> X, y = rng.rand(100, 8).astype(np.float32), rng.randint(2, size=100)
>>> pipe = make_pipeline(StandardScaler(), VAETransformer(
...     2, hidden_layer_sizes=(16,), max_iter=2, random_state=0),
...     LogisticRegression()).fit(X, y)
>>> model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
>>> [o.name for o in model.graph.output]
['label', 'probabilities']
"""

import numpy as np

from ._autoencoder import AutoencoderTransformer
from ._conditional import ConditionalVAE
from ._estimator import VAETransformer
from ._export import to_onnx
from ._onnx_export import MIN_OPSET
from ._optional import import_optional

__all__ = ["register_converters", "CONVERTED"]

#: the estimators whose converters :func:`register_converters` registers
CONVERTED = (VAETransformer, ConditionalVAE, AutoencoderTransformer)


def _shape_calculator(operator):
    """Output type of the converted ``transform``: the input's element type,
    ``(n_rows, n_components)``."""
    types = import_optional("skl2onnx.common.data_types")
    utils = import_optional("skl2onnx.common.utils")
    utils.check_input_and_output_numbers(
        operator, input_count_range=1, output_count_range=1
    )
    utils.check_input_and_output_types(
        operator, good_input_types=[types.FloatTensorType, types.DoubleTensorType]
    )
    estimator = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    n_components = estimator.n_components_  # as fitted (kept, with "auto")
    operator.outputs[0].type = type(operator.inputs[0].type)([n_rows, n_components])


def _converter(scope, operator, container):
    """Embed the exported ``transform`` graph of the estimator."""
    types = import_optional("skl2onnx.common.data_types")
    integration = import_optional("skl2onnx.helpers.integration")
    estimator = operator.raw_operator
    float64 = isinstance(operator.inputs[0].type, types.DoubleTensorType)
    example = np.zeros(
        (1, estimator.n_features_in_), dtype=np.float64 if float64 else np.float32
    )
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(
            f"skvae's converter writes ONNX opset {MIN_OPSET} or newer, and "
            f"skl2onnx was asked for target_opset={opset}; pass "
            f"target_opset={MIN_OPSET} or more."
        )
    model = to_onnx(estimator, example, method="transform", target_opset=opset)
    integration.add_onnx_graph(scope, operator, container, model)


def register_converters():
    """Register skvae's shape calculators and converters with skl2onnx.

    Run on ``import skvae.onnx``; call it again only after something else
    replaced them. The aliases are ``"SkvaeVAETransformer"``,
    ``"SkvaeConditionalVAE"`` and ``"SkvaeAutoencoderTransformer"`` (skl2onnx
    looks converters up by the exact class, so a subclass needs its own).

    Returns
    -------
    None
    """
    skl2onnx = import_optional("skl2onnx")
    for cls in CONVERTED:
        skl2onnx.update_registered_converter(
            cls, f"Skvae{cls.__name__}", _shape_calculator, _converter
        )


register_converters()
