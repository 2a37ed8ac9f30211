"""Save and load estimators without pickle: one safetensors file.

An skvae file is a `safetensors <https://github.com/huggingface/safetensors>`_
file. Its tensors are the module's weights (``module.<name>``) and the
optimizer's state (``optimizer.<index>.<name>``), all on the CPU. Its string
metadata holds two entries:

``skvae``
    One JSON document: the format version, the versions of skvae, torch,
    scikit-learn, NumPy and safetensors that wrote it, the estimator's class
    name, its ``get_params()``, every other instance attribute (the fitted
    ones ending in ``_`` and private state such as ``_random_state``) and the
    optimizer's hyperparameters.
``skvae_sha256``
    A SHA-256 digest of that document and of every tensor (name, dtype, shape
    and bytes), so that accidental damage anywhere in the file is detected.

An estimator that wraps a fitted autoencoder (:class:`~skvae.VAEImputer`'s
``vae_``) stores it nested: the autoencoder's own document, as above without
the format and versions, under ``"nested"`` in the wrapper's document, and its
tensors with the attribute's name as a prefix (``vae_.module.<name>``).

Values in the document go through a small tagged JSON encoding: JSON's own
null, booleans, integers, finite floats, strings and lists stand for
themselves; every JSON object is a tagged value (``{"__skvae__": tag, ...}``)
for a tuple, a dict, a non-finite float, a NumPy array, scalar or dtype
(numeric, bool or string dtypes only), a ``torch.device``, a likelihood, a
``RandomState`` state or the table encoder of a model fitted on a DataFrame or
on incomplete data (see :mod:`skvae._persistence_tabular`). Loading never
unpickles and never imports anything the file names: classes are looked up in
fixed lists of skvae's own estimators, likelihoods, column kinds and pandas
dtypes, and every value is checked before it reaches the estimator.

Format versions: 1 stored autoencoders fitted on numeric arrays; 2 adds the
``dtype`` and ``tabular`` tags and nested estimators. :func:`load` reads both.
"""

import hashlib
import importlib
import inspect
import json
import math
import os
import secrets
from numbers import Integral, Real

import numpy as np
import safetensors
import safetensors.torch
import sklearn
import torch

from ._likelihoods import Likelihood
from ._mixed import MixedLikelihood
from ._persistence_tabular import encoded_width, tabular_from_state, tabular_state
from ._tabular import TabularEncoder
from ._utils import resolve_device

__all__ = ["save", "load", "FORMAT_VERSION"]

#: version of the file layout written by :func:`save`; :func:`load` reads up to it
FORMAT_VERSION = 2

_FORMAT_NAME = "skvae"
_DOC_KEY = "skvae"
_DIGEST_KEY = "skvae_sha256"
_TAG = "__skvae__"
# Fitted attributes stored as tensors and rebuilt on load rather than encoded.
_TENSOR_ATTRIBUTES = ("module_", "optimizer_")
_MT19937_WORDS = 624
# Parameters added to the estimators after files were first written. A file
# without one was written before it existed, when the model behaved as the
# parameter's default does now; any other missing parameter is an error.
_LATER_PARAMS = frozenset({"numeric_scaling", "n_importance_train", "covariance"})


class _Invalid(ValueError):
    """What is wrong with a file; :func:`load` prefixes it with the path."""


# --------------------------------------------------------------- whitelists


def _package():
    return importlib.import_module(__package__)


def _exported_subclasses(base):
    """Classes exported by ``skvae.__all__`` that subclass ``base``, by name."""
    package = _package()
    classes = {}
    for name in package.__all__:
        obj = getattr(package, name, None)
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base:
            classes[obj.__name__] = obj
    return classes


def _autoencoder_classes():
    from ._base import _BaseAutoencoder

    return _exported_subclasses(_BaseAutoencoder)


def _estimator_classes():
    """Every estimator class that :func:`save` writes and :func:`load` rebuilds."""
    from ._imputer import VAEImputer

    return {**_autoencoder_classes(), VAEImputer.__name__: VAEImputer}


#: wrapping estimators, by class name: the attribute holding their fitted
#: autoencoder, which the file stores nested (see the module docstring)
_NESTED = {"VAEImputer": "vae_"}


def _likelihood_classes():
    return _exported_subclasses(Likelihood)


# ---------------------------------------------------------------- encoding


def _float_tag(x):
    return {_TAG: "float", "value": repr(x)}  # 'nan', 'inf' or '-inf'


def _check_dtype(dtype, where, *, allow_object):
    ok = (dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8)) or (
        dtype.kind == "U" or (allow_object and dtype.kind == "O")
    )
    if not ok or dtype.fields is not None or dtype.subdtype is not None:
        raise _Invalid(f"{where} has unsupported dtype {dtype.str!r}")


def _encode(value, where):
    """The tagged-JSON form of ``value``; TypeError naming ``where`` if impossible."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else _float_tag(value)
    if type(value) is list:
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is tuple:
        items = [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return {_TAG: "tuple", "items": items}
    if type(value) is dict:
        items = [
            [_encode(k, f"{where} key {k!r}"), _encode(v, f"{where}[{k!r}]")]
            for k, v in value.items()
        ]
        return {_TAG: "dict", "items": items}
    if isinstance(value, np.generic):
        _save_check_dtype(value.dtype, where, allow_object=False)
        return {_TAG: "scalar", "dtype": value.dtype.str, "value": _encode_item(value)}
    if type(value) is np.ndarray:
        _save_check_dtype(value.dtype, where, allow_object=True)
        flat = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(type(v) is str for v in flat):
            raise TypeError(
                f"cannot save {where}: object arrays are supported only when every "
                "element is a str."
            )
        if value.dtype.kind == "f":
            flat = [v if math.isfinite(v) else _float_tag(v) for v in flat]
        return {
            _TAG: "ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "data": flat,
        }
    if isinstance(value, np.dtype):
        _save_check_dtype(value, where, allow_object=True)
        return {_TAG: "dtype", "value": value.str}
    if type(value) is torch.device:
        return {_TAG: "device", "value": str(value)}
    if isinstance(value, Likelihood):
        return _encode_likelihood(value, where)
    if type(value) is TabularEncoder:
        return {_TAG: "tabular", "state": _encode(tabular_state(value), where)}
    if type(value) is np.random.RandomState:
        name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return {
            _TAG: "random_state",
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": _encode(float(cached), where),
        }
    raise TypeError(
        f"cannot save {where}: values of type {type(value).__qualname__} are not "
        "supported by the skvae file format (it stores None, bool, int, float, "
        "str, lists, tuples, dicts, NumPy arrays, scalars and dtypes of numeric, "
        "bool or str dtype, torch devices, skvae likelihoods, table encoders and "
        "RandomState instances). "
        "Use pickle or joblib to store such an estimator where you trust the file."
    )


def _save_check_dtype(dtype, where, *, allow_object):
    try:
        _check_dtype(dtype, where, allow_object=allow_object)
    except _Invalid as exc:
        raise TypeError(f"cannot save {exc}.") from None


def _encode_item(value):
    item = value.item()
    if type(item) is float and not math.isfinite(item):
        return _float_tag(item)
    return item


def _encode_likelihood(value, where):
    classes = _likelihood_classes()
    name = type(value).__name__
    if classes.get(name) is not type(value):
        raise TypeError(
            f"cannot save {where}: {type(value).__qualname__} is not one of skvae's "
            f"likelihoods ({', '.join(sorted(classes))}), and skvae.load never "
            "imports code named by a file. Use pickle or joblib for estimators "
            "with custom likelihoods."
        )
    params = value.get_params()
    try:
        rebuilt = type(value)(**params)
    except TypeError:
        rebuilt = None
    if rebuilt != value:
        raise TypeError(
            f"cannot save {where}: {value!r} cannot be rebuilt from its get_params()."
        )
    return {
        _TAG: "likelihood",
        "class": name,
        "params": _encode(params, f"{where} parameters"),
    }


# ---------------------------------------------------------------- decoding


def _decode(obj, where):
    """Inverse of :func:`_encode`, checking every value; raises ``_Invalid``."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [_decode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if type(obj) is not dict:
        raise _Invalid(f"{where} has an unreadable value")
    tag = obj.get(_TAG)
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise _Invalid(f"{where} has an unknown value tag {tag!r}")
    expected = _DECODER_FIELDS[tag] | {_TAG}
    if set(obj) != expected:
        raise _Invalid(f"{where}: a {tag!r} value needs the fields {sorted(expected)}")
    return decoder(obj, where)


def _decode_float(obj, where):
    text = obj["value"]
    if text not in ("nan", "inf", "-inf"):
        raise _Invalid(f"{where} has an invalid float {text!r}")
    return float(text)


def _decode_items(obj, where):
    if type(obj["items"]) is not list:
        raise _Invalid(f"{where} has no list of items")
    return obj["items"]


def _decode_tuple(obj, where):
    items = _decode_items(obj, where)
    return tuple(_decode(v, f"{where}[{i}]") for i, v in enumerate(items))


def _decode_dict(obj, where):
    out = {}
    for pair in _decode_items(obj, where):
        if type(pair) is not list or len(pair) != 2:
            raise _Invalid(f"{where} has a malformed dict entry")
        key = _decode(pair[0], f"{where} key")
        if not isinstance(key, (str, int, float, bool, tuple, type(None))):
            raise _Invalid(f"{where} has a dict key of type {type(key).__name__}")
        out[key] = _decode(pair[1], f"{where}[{key!r}]")
    return out


def _parse_dtype(text, where, *, allow_object):
    if type(text) is not str:
        raise _Invalid(f"{where} has no dtype string")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise _Invalid(f"{where} has an invalid dtype {text!r}") from None
    if dtype.str != text:
        raise _Invalid(f"{where} has a non-canonical dtype {text!r}")
    _check_dtype(dtype, where, allow_object=allow_object)
    return dtype


def _check_element(value, kind, where):
    """An element of an array or scalar of dtype kind ``kind``, checked."""
    if kind == "f" and type(value) is dict:
        return _decode(value, where) if value.get(_TAG) == "float" else None
    ok = {
        "b": type(value) is bool,
        "i": type(value) is int,
        "u": type(value) is int,
        "f": type(value) in (float, int),
        "U": type(value) is str,
        "O": type(value) is str,
    }[kind]
    if not ok:
        raise _Invalid(f"{where} holds a {type(value).__name__} in a {kind!r} array")
    return value


def _decode_ndarray(obj, where):
    dtype = _parse_dtype(obj["dtype"], where, allow_object=True)
    shape, data = obj["shape"], obj["data"]
    if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
        raise _Invalid(f"{where} has an invalid shape")
    if type(data) is not list or math.prod(shape) != len(data):
        raise _Invalid(f"{where}: the data do not match the shape {shape}")
    data = [_check_element(v, dtype.kind, where) for v in data]
    if any(v is None for v in data):
        raise _Invalid(f"{where} holds an invalid element")
    try:
        if dtype.kind == "O":
            array = np.empty(len(data), dtype=object)
            array[:] = data
        else:
            array = np.array(data, dtype=dtype)
        return array.reshape(shape)
    except (OverflowError, ValueError, TypeError) as exc:
        raise _Invalid(f"{where} cannot be rebuilt ({exc})") from None


def _decode_scalar(obj, where):
    dtype = _parse_dtype(obj["dtype"], where, allow_object=False)
    value = _check_element(obj["value"], dtype.kind, where)
    if value is None:
        raise _Invalid(f"{where} holds an invalid value")
    try:
        with np.errstate(over="raise"):
            return dtype.type(value)
    except (OverflowError, ValueError, TypeError, FloatingPointError):
        raise _Invalid(f"{where}: {value!r} does not fit in {dtype.str}") from None


def _decode_device(obj, where):
    text = obj["value"]
    if type(text) is not str:
        raise _Invalid(f"{where} has an invalid device")
    try:
        return torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise _Invalid(f"{where} names no valid device: {text!r}") from None


def _decode_likelihood(obj, where):
    name = obj["class"]
    classes = _likelihood_classes()
    if type(name) is not str or name not in classes:
        raise _Invalid(
            f"{where} names the class {name!r}, which is not one of skvae's "
            f"likelihoods ({', '.join(sorted(classes))})"
        )
    params = _decode(obj["params"], f"{where} parameters")
    if type(params) is not dict or not all(type(k) is str for k in params):
        raise _Invalid(f"{where} has invalid parameters")
    try:
        likelihood = classes[name](**params)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"{where}: {name} rejects its parameters ({exc})") from None
    if isinstance(likelihood, MixedLikelihood):
        _check_mixed(likelihood, where)
    return likelihood


def _check_mixed(likelihood, where):
    """A MixedLikelihood's blocks must be likelihoods of consistent sizes."""
    blocks, sizes = likelihood.likelihoods, likelihood.sizes
    variables, masked = likelihood.n_variables, likelihood.masked
    if type(blocks) is not tuple or not all(isinstance(b, Likelihood) for b in blocks):
        raise _Invalid(f"{where}: MixedLikelihood needs a tuple of likelihoods")
    if (
        type(sizes) is not tuple
        or len(sizes) != len(blocks)
        or not all(type(s) is int and s >= 1 for s in sizes)
    ):
        raise _Invalid(
            f"{where}: MixedLikelihood needs one positive size per likelihood"
        )
    if variables is not None and (
        type(variables) is not tuple
        or len(variables) != len(sizes)
        or not all(
            type(v) is int and v in (1, s)
            for v, s in zip(variables, sizes, strict=True)
        )
    ):
        raise _Invalid(
            f"{where}: MixedLikelihood's n_variables must be 1 or the size of "
            "each block"
        )
    if type(masked) is not bool:
        raise _Invalid(f"{where}: MixedLikelihood's masked must be a boolean")


def _decode_dtype(obj, where):
    return _parse_dtype(obj["value"], where, allow_object=True)


def _decode_tabular(obj, where):
    state = _decode(obj["state"], where)
    try:
        return tabular_from_state(state)
    except ValueError as exc:
        raise _Invalid(f"{where}: {exc}") from None


def _decode_random_state(obj, where):
    keys, pos, has_gauss = obj["keys"], obj["pos"], obj["has_gauss"]
    cached = _decode(obj["cached_gaussian"], where)
    if (
        type(keys) is not list
        or len(keys) != _MT19937_WORDS
        or not all(type(k) is int and 0 <= k < 2**32 for k in keys)
        or type(pos) is not int
        or not 0 <= pos <= _MT19937_WORDS
        or has_gauss not in (0, 1)
        or type(cached) is not float
    ):
        raise _Invalid(f"{where} has an invalid RandomState state")
    state = ("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached)
    random_state = np.random.RandomState()
    try:
        random_state.set_state(state)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"{where} has an invalid RandomState state ({exc})") from None
    return random_state


_DECODERS = {
    "float": _decode_float,
    "tuple": _decode_tuple,
    "dict": _decode_dict,
    "ndarray": _decode_ndarray,
    "scalar": _decode_scalar,
    "device": _decode_device,
    "likelihood": _decode_likelihood,
    "random_state": _decode_random_state,
    "dtype": _decode_dtype,
    "tabular": _decode_tabular,
}
_DECODER_FIELDS = {
    "float": {"value"},
    "tuple": {"items"},
    "dict": {"items"},
    "ndarray": {"dtype", "shape", "data"},
    "scalar": {"dtype", "value"},
    "device": {"value"},
    "likelihood": {"class", "params"},
    "random_state": {"keys", "pos", "has_gauss", "cached_gaussian"},
    "dtype": {"value"},
    "tabular": {"state"},
}


# ------------------------------------------------------------------ digest


def _digest(doc_text, tensors):
    """SHA-256 of the JSON document and of every tensor's name, dtype, shape, bytes."""
    h = hashlib.sha256()
    h.update(b"skvae\0")
    h.update(doc_text.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        header = f"\0{name}\0{tensor.dtype}\0{list(tensor.shape)}\0"
        h.update(header.encode())
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        h.update(raw.numpy().data)
    return h.hexdigest()


# -------------------------------------------------------------------- save


def _versions():
    return {
        "skvae": str(_package().__version__),
        "torch": str(torch.__version__),
        "scikit-learn": str(sklearn.__version__),
        "numpy": str(np.__version__),
        "safetensors": str(safetensors.__version__),
    }


def _cpu_tensor(tensor):
    return tensor.detach().to("cpu").contiguous()


def _check_rebuildable(estimator):
    """Refuse to save a module that ``load`` would not rebuild from the parameters.

    :func:`load` rebuilds ``module_`` from the saved parameters (and the table
    encoder ``tabular_``, if any), so they must still describe the fitted
    module (``set_params`` after ``fit`` can change that without refitting).
    """
    params = estimator.get_params(deep=False)
    tabular = getattr(estimator, "tabular_", None)
    if tabular is not None:
        changed = _tabular_mismatch(params, tabular)
        if changed:
            raise ValueError(
                f"cannot save: the estimator's parameters were changed after fit "
                f"({', '.join(changed)}) and no longer describe how its table "
                "was encoded. Refit, or set them back, before saving."
            )
    probe = type(estimator)(**{**params, "device": "cpu", "random_state": 0})
    n_inputs = estimator.n_features_in_
    if tabular is not None:
        probe.tabular_ = tabular
        n_inputs = encoded_width(tabular)
    try:
        probe._initialize(n_inputs)
    except ValueError as exc:
        raise ValueError(
            f"cannot save: the parameters no longer describe the fitted model ({exc})"
        ) from None
    ours, theirs = estimator.module_.state_dict(), probe.module_.state_dict()
    same_shapes = ours.keys() == theirs.keys() and all(
        ours[k].shape == theirs[k].shape for k in ours
    )
    if not same_shapes or repr(probe.module_) != repr(estimator.module_):
        raise ValueError(
            "cannot save: the estimator's parameters were changed after fit and no "
            "longer describe the fitted module (e.g. hidden_layer_sizes, activation, "
            "n_components or likelihood). Refit, or set them back, before saving."
        )


def _tabular_mismatch(params, tabular):
    """The parameters that differ from those a model with ``tabular_`` was fit with."""
    fitted_with = {
        "missing": "mask" if tabular.allow_missing else "error",
        "numeric_scaling": tabular.numeric,
        "covariance": tabular.covariance,
        "likelihood": "gaussian",  # the only one fit accepts for tables
    }
    return [
        f"{key}={params.get(key)!r}"
        for key, value in fitted_with.items()
        if not (isinstance(params.get(key), str) and params.get(key) == value)
    ]


def save(estimator, path):
    """Save a skvae estimator to one file that :func:`load` reads without pickle.

    The file is a safetensors file: the module's weights and the optimizer's
    state as tensors, and the parameters, fitted attributes and library
    versions as JSON metadata. Tensors are stored on the CPU whatever the
    device. The file is written next to ``path`` and then renamed, so a failed
    save never leaves a truncated file in its place.

    Parameters
    ----------
    estimator : VAETransformer, AutoencoderTransformer or VAEImputer
        Fitted or not, on numeric arrays, mixed-type DataFrames or incomplete
        data.
    path : str or os.PathLike
        File to write; replaced if it exists.

    Raises
    ------
    TypeError
        If the estimator is not one of skvae's classes, or an attribute holds a
        value the format cannot store (the message names it).
    ValueError
        If the fitted weights are not finite, or the parameters were changed
        after ``fit`` so that they no longer describe the fitted module.

    See Also
    --------
    load : Read the file back.
    """
    path = os.fspath(path)
    part, tensors = _describe(estimator)
    doc = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        **part,
    }
    doc_text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    metadata = {_DOC_KEY: doc_text, _DIGEST_KEY: _digest(doc_text, tensors)}
    _write_atomic(path, safetensors.torch.save(tensors, metadata=metadata))


def _describe(estimator):
    """The document part (class, parameters, attributes...) and tensors of one
    estimator; a wrapped autoencoder's part is nested, its tensors prefixed."""
    cls = type(estimator)
    classes = _estimator_classes()
    if classes.get(cls.__name__) is not cls:
        raise TypeError(
            f"cannot save a {cls.__qualname__}: only skvae's own estimators "
            f"({', '.join(sorted(classes))}) can be saved, because skvae.load "
            "never imports code named by a file. Use pickle or joblib instead."
        )
    params = estimator.get_params(deep=False)
    state = vars(estimator)
    nested_name = _NESTED.get(cls.__name__)
    attributes, tensors = {}, {}
    for name, value in state.items():
        if name in params or name == nested_name or name in _TENSOR_ATTRIBUTES:
            continue
        if not _is_loadable_name(cls, name, params):
            raise TypeError(
                f"cannot save attribute {name!r}: it shadows {cls.__name__}.{name}."
            )
        attributes[name] = _encode(value, f"attribute {name!r}")
    encoded_params = {k: _encode(v, f"parameter {k!r}") for k, v in params.items()}

    if nested_name is not None:
        return _describe_wrapper(estimator, nested_name, encoded_params, attributes)

    fitted = "module_" in state
    optimizer_doc = None
    if fitted:
        _check_rebuildable(estimator)
        for key, value in estimator.module_.state_dict().items():
            tensor = _cpu_tensor(value)
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise ValueError(
                    f"cannot save: module_ weight {key!r} holds non-finite values."
                )
            tensors[f"module.{key}"] = tensor
        optimizer_state = estimator.optimizer_.state_dict()
        scalars = {}
        for index, entry in optimizer_state["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{index}.{key}"] = _cpu_tensor(value)
                else:
                    where = f"optimizer_ state {index}/{key}"
                    scalars.setdefault(str(index), {})[key] = _encode(value, where)
        optimizer_doc = {
            "param_groups": _encode(
                optimizer_state["param_groups"], "optimizer_ param_groups"
            ),
            "state": scalars,
        }
    part = {
        "class": cls.__name__,
        "params": encoded_params,
        "fitted": fitted,
        "attributes": attributes,
        "random_state_shared": fitted
        and _shares_random_state(params, state.get("_random_state")),
        "optimizer": optimizer_doc,
    }
    return part, tensors


def _shares_random_state(params, other):
    """Whether a RandomState given as the ``random_state`` parameter is ``other``."""
    random_state = params.get("random_state")
    return isinstance(random_state, np.random.RandomState) and other is random_state


def _describe_wrapper(estimator, nested_name, params, attributes):
    """:func:`_describe` for a wrapping estimator, its autoencoder nested."""
    state = vars(estimator)
    fitted = nested_name in state
    nested, tensors = {}, {}
    if fitted:
        model = state[nested_name]
        if _autoencoder_classes().get(type(model).__name__) is not type(model):
            raise TypeError(
                f"cannot save attribute {nested_name!r}: a "
                f"{type(model).__qualname__} is not one of skvae's autoencoders."
            )
        if not hasattr(model, "module_"):
            raise ValueError(f"cannot save: its {nested_name!r} is not fitted.")
        nested[nested_name], inner = _describe(model)
        tensors = {f"{nested_name}.{key}": t for key, t in inner.items()}
    part = {
        "class": type(estimator).__name__,
        "params": params,
        "fitted": fitted,
        "attributes": attributes,
        "nested": nested,
        "random_state_shared": fitted
        and _shares_random_state(
            estimator.get_params(deep=False), state[nested_name].random_state
        ),
    }
    return part, tensors


def _write_atomic(path, data):
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -------------------------------------------------------------------- load


def _is_loadable_name(cls, name, params):
    """Whether ``name`` may be set on an instance of ``cls`` from a file."""
    return (
        type(name) is str
        and name.isidentifier()
        and not name.startswith("__")
        and name not in params
        and name not in _TENSOR_ATTRIBUTES
        and not hasattr(cls, name)
    )


def load(path, *, device="cpu"):
    """Load an estimator saved by :meth:`~skvae.VAETransformer.save`.

    Nothing in the file is executed: it is never unpickled, and the classes it
    names are looked up among skvae's own estimators, likelihoods, column
    kinds and pandas dtypes, never imported. Every tensor's name, shape, dtype
    and finiteness, every parameter and attribute (a table encoding's column
    kinds, scales, quantiles, categories and dtypes included) and a SHA-256
    digest of the whole content are checked before the estimator is returned.
    A model fitted on a GPU loads on a machine without one.

    Parameters
    ----------
    path : str or os.PathLike
        File written by ``save``.
    device : str or torch.device, default="cpu"
        Where to put the module (a VAEImputer's ``vae_``); ``"auto"`` picks
        CUDA when available. The ``device`` parameter of the estimator is
        restored as saved, so a later ``fit`` uses it; ``device_`` is the
        device given here.

    Returns
    -------
    estimator : VAETransformer, AutoencoderTransformer or VAEImputer
        Equal to the saved one: same ``get_params()``, same fitted attributes,
        same weights and optimizer state, so ``transform``, ``score_samples``,
        seeded ``sample``, ``partial_fit`` and ``warm_start`` carry on exactly;
        a model fitted on a DataFrame returns DataFrames of the same columns
        and dtypes, and a VAEImputer fills in the same values.

    Raises
    ------
    ValueError
        If the file is empty, truncated, damaged, not an skvae file (a pickle,
        another safetensors file...), tampered with, or written by a newer
        version of the format; or if ``device`` is not available. The message
        says what is wrong.
    OSError
        If the file cannot be read.

    See Also
    --------
    VAETransformer.save : Write the file.
    VAEImputer.save : Write the file of an imputer.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skvae
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> vae = skvae.VAETransformer(hidden_layer_sizes=(8,), max_iter=2,
    ...                            device="cpu", random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "vae.safetensors")
    ...     vae.save(path)
    ...     loaded = skvae.load(path)
    >>> loaded.get_params() == vae.get_params()
    True
    >>> np.array_equal(loaded.score_samples(X), vae.score_samples(X))
    True
    >>> loaded.device_
    device(type='cpu')
    """
    target = resolve_device(device)
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _load(data, target)
    except _Invalid as exc:
        message = str(exc)
    except (
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        OverflowError,
        RecursionError,
        RuntimeError,
        ValueError,
    ) as exc:
        message = f"damaged or tampered content ({type(exc).__name__}: {exc})"
    raise ValueError(f"Cannot load {path!r}: {message}.")


def _read(data):
    """The tensors and the verified skvae document of a file's bytes."""
    if not data:
        raise _Invalid("the file is empty")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad file
        if data[:1] == b"\x80" or data[:2] == b"PK":
            raise _Invalid(
                "it looks like a pickle (or a torch.save/zip archive), not an "
                "skvae file; skvae.load never unpickles. Load such files with "
                "pickle or joblib only if you trust their source"
            ) from None
        raise _Invalid(f"it is not a valid safetensors file ({exc})") from None
    size = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"its safetensors header is unreadable ({exc})") from None
    metadata = header.get("__metadata__") if type(header) is dict else None
    doc_text = metadata.get(_DOC_KEY) if type(metadata) is dict else None
    if type(doc_text) is not str:
        raise _Invalid(
            "it is a safetensors file but was not saved by skvae (no 'skvae' metadata)"
        )
    try:
        doc = json.loads(doc_text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"its skvae metadata is not valid JSON ({exc})") from None
    if type(doc) is not dict or doc.get("format") != _FORMAT_NAME:
        raise _Invalid("its skvae metadata is not an skvae document")
    version = doc.get("format_version")
    if type(version) is not int or version < 1:
        raise _Invalid(f"it has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        versions = doc.get("versions")
        writer = versions.get("skvae") if type(versions) is dict else None
        raise _Invalid(
            f"it was written in skvae file format version {version}"
            + (f" (by skvae {writer})" if type(writer) is str else "")
            + f", newer than version {FORMAT_VERSION} that skvae "
            f"{_package().__version__} reads; upgrade skvae to load it"
        )
    digest = metadata.get(_DIGEST_KEY)
    if type(digest) is not str or digest != _digest(doc_text, tensors):
        raise _Invalid(
            "its content does not match its SHA-256 digest: the file is damaged "
            "or was modified after saving"
        )
    return tensors, doc


def _reject_constant(name):
    raise ValueError(f"the constant {name} is not allowed")


def _field(doc, key, kind, where="the document"):
    value = doc.get(key)
    if not isinstance(value, kind):
        raise _Invalid(f"{where} lacks a valid {key!r} entry")
    return value


def _load(data, target):
    tensors, doc = _read(data)
    return _rebuild(doc, tensors, target, _estimator_classes())


def _rebuild(doc, tensors, target, classes):
    """The estimator one document part and its tensors describe, every value
    checked; ``classes`` are those it may name."""
    name = doc.get("class")
    if type(name) is not str or name not in classes:
        raise _Invalid(
            f"it names the class {name!r}, which is not one of skvae's estimators "
            f"({', '.join(sorted(classes))})"
        )
    cls = classes[name]
    raw_params = _field(doc, "params", dict)
    names = set(cls._get_param_names())
    defaults = inspect.signature(cls).parameters
    for key in _LATER_PARAMS & (names - set(raw_params)):
        # written before the parameter existed: what the model did then
        raw_params = {**raw_params, key: _encode(defaults[key].default, key)}
    if set(raw_params) != names:
        missing, extra = names - set(raw_params), set(raw_params) - names
        raise _Invalid(
            f"its parameters do not match {name}'s (missing: {sorted(missing)}, "
            f"unknown: {sorted(extra)})"
        )
    params = {k: _decode(v, f"parameter {k!r}") for k, v in raw_params.items()}
    raw_attributes = _field(doc, "attributes", dict)
    attributes = {}
    for key, value in raw_attributes.items():
        if not _is_loadable_name(cls, key, names) or key == _NESTED.get(name):
            raise _Invalid(f"it sets the attribute {key!r}, which is not allowed")
        attributes[key] = _decode(value, f"attribute {key!r}")
    fitted = _field(doc, "fitted", bool)

    estimator = cls(**params)
    try:
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its parameters are invalid ({exc})") from None

    if name in _NESTED:
        nested = _field(doc, "nested", dict)
        if fitted:
            return _rebuild_wrapper(estimator, attributes, doc, nested, tensors, target)
        if nested:
            raise _Invalid(
                "it stores a fitted model for an estimator marked as unfitted"
            )
    if not fitted:
        if tensors:
            raise _Invalid("it stores weights for an estimator marked as unfitted")
        if any(key.endswith("_") for key in attributes):
            raise _Invalid("it stores fitted attributes for an unfitted estimator")
        for key, value in attributes.items():
            setattr(estimator, key, value)
        return estimator
    return _rebuild_autoencoder(estimator, params, attributes, doc, tensors, target)


def _rebuild_autoencoder(estimator, params, attributes, doc, tensors, target):
    cls, names = type(estimator), set(params)
    module_tensors, optimizer_tensors = {}, {}
    for key, tensor in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix == "module" and rest:
            module_tensors[rest] = tensor
        elif prefix == "optimizer" and rest:
            optimizer_tensors[rest] = tensor
        else:
            raise _Invalid(f"it holds an unexpected tensor {key!r}")

    n_features = attributes.get("n_features_in_")
    if not isinstance(n_features, Integral) or isinstance(n_features, bool):
        raise _Invalid("it lacks a valid n_features_in_ attribute")
    if n_features < 1:
        raise _Invalid(f"n_features_in_={n_features!r} is not positive")
    n_features = int(n_features)
    tabular = attributes.get("tabular_")
    n_inputs = n_features
    if "tabular_" in attributes:
        _check_tabular(tabular, params, n_features, attributes)
        n_inputs = encoded_width(tabular)
    _check_sizes(params, n_inputs, module_tensors)

    # Build the module and optimizer as fit does, on the target device. The
    # device and random_state used for building are replaced by the saved ones.
    estimator = cls(**{**params, "device": target, "random_state": 0})
    if tabular is not None:
        estimator.tabular_ = tabular  # _initialize builds the likelihood from it
    try:
        estimator._initialize(n_inputs)
    except (RuntimeError, MemoryError) as exc:
        raise _Invalid(f"the model it describes cannot be built ({exc})") from None
    estimator.set_params(device=params["device"], random_state=params["random_state"])

    _check_attributes(estimator, attributes, names, n_features, n_inputs)
    for key, value in attributes.items():
        setattr(estimator, key, value)
    estimator.device_ = target
    if doc.get("random_state_shared") is True and isinstance(
        estimator.random_state, np.random.RandomState
    ):
        estimator._random_state = estimator.random_state
    _load_module(estimator.module_, module_tensors)
    _load_optimizer(
        estimator.optimizer_,
        optimizer_tensors,
        _field(doc, "optimizer", dict),
    )
    return estimator


def _check_tabular(tabular, params, n_features, attributes):
    """``tabular_`` must be an encoder of n_features columns, named as
    ``feature_names_in_``, that the parameters would have fitted."""
    if type(tabular) is not TabularEncoder:
        raise _Invalid("its attribute 'tabular_' is not a table encoder")
    if tabular.n_columns != n_features:
        raise _Invalid(
            f"its table encoder has {tabular.n_columns} columns, but "
            f"n_features_in_={n_features}"
        )
    names = attributes.get("feature_names_in_")
    if names is not None and (
        not isinstance(names, np.ndarray) or names.tolist() != tabular.columns_
    ):
        raise _Invalid("its feature_names_in_ differ from its table encoder's columns")
    changed = _tabular_mismatch(params, tabular)
    if changed:
        raise _Invalid(
            f"its table encoder was not fitted with the parameters {', '.join(changed)}"
        )


def _rebuild_wrapper(estimator, attributes, doc, nested, tensors, target):
    """A fitted wrapping estimator (VAEImputer) and its nested autoencoder."""
    attribute = _NESTED[type(estimator).__name__]
    if set(nested) != {attribute}:
        raise _Invalid(
            f"it must nest exactly its fitted model {attribute!r}, not {sorted(nested)}"
        )
    prefix = f"{attribute}."
    for key in tensors:
        if not key.startswith(prefix):
            raise _Invalid(f"it holds an unexpected tensor {key!r}")
    inner = {key[len(prefix) :]: tensor for key, tensor in tensors.items()}
    if type(nested[attribute]) is not dict:
        raise _Invalid(f"its model {attribute!r} is unreadable")
    try:
        model = _rebuild(nested[attribute], inner, target, _autoencoder_classes())
    except _Invalid as exc:
        raise _Invalid(f"in its model {attribute!r}, {exc}") from None
    if not hasattr(model, "module_"):
        raise _Invalid(f"its model {attribute!r} is not fitted")
    _check_imputer_attributes(model, attributes)
    for key, value in attributes.items():
        setattr(estimator, key, value)
    setattr(estimator, attribute, model)
    if doc.get("random_state_shared") is True and isinstance(
        estimator.random_state, np.random.RandomState
    ):
        if getattr(model, "_random_state", None) is model.random_state:
            model._random_state = estimator.random_state
        model.random_state = estimator.random_state
    return estimator


def _check_imputer_attributes(model, attributes):
    """A VAEImputer's attributes repeat its masked model's, as its fit sets them."""
    tabular = getattr(model, "tabular_", None)
    if tabular is None or not tabular.allow_missing:
        raise _Invalid("its model 'vae_' was not fitted with missing='mask'")
    missing = sorted({"n_features_in_", "n_iter_"} - set(attributes))
    if missing:
        raise _Invalid(f"it lacks the fitted attributes {missing}")
    for key in ("n_features_in_", "n_iter_", "feature_names_in_"):
        ours, theirs = attributes.get(key), getattr(model, key, None)
        same = (
            np.array_equal(ours, theirs)
            if isinstance(theirs, np.ndarray) and isinstance(ours, np.ndarray)
            else type(ours) is type(theirs) and ours == theirs
        )
        if not same:
            raise _Invalid(f"its {key} differs from that of its model 'vae_'")


def _check_sizes(params, n_features, module_tensors):
    """Refuse layer sizes no stored tensor could hold, before allocating them.

    Every layer width appears as a dimension of some stored weight, so a file
    that declares a wider layer was tampered with; checking first keeps it
    from making ``load`` allocate a huge module.
    """
    if not module_tensors:
        raise _Invalid("it stores no module weights for a fitted estimator")
    largest = max(max(t.shape, default=1) for t in module_tensors.values())
    try:
        hidden = [int(h) for h in np.ravel(params["hidden_layer_sizes"])]
    except (TypeError, ValueError):
        hidden = []  # left for _initialize to refuse
    sizes = [n_features, int(params["n_components"]), *hidden]
    if max(sizes) > largest or len(hidden) > len(module_tensors):
        raise _Invalid(
            f"its parameters describe layers (sizes {sizes}) that its weights "
            f"cannot hold (largest dimension {largest})"
        )


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _same_kind(value, reference):
    if reference is None or value is None:
        return True
    if isinstance(reference, Likelihood):
        return isinstance(value, Likelihood)
    if _is_number(reference):
        return _is_number(value)
    return isinstance(value, type(reference))


def _check_attributes(estimator, attributes, param_names, n_features, n_inputs):
    """The file must set every attribute fit sets, with values of the same kind.

    ``n_inputs`` is the module's input width: ``n_features`` unless a table
    encoder widens the columns.
    """
    built = {
        k: v
        for k, v in vars(estimator).items()
        if k not in param_names and k not in _TENSOR_ATTRIBUTES
    }
    missing = sorted((set(built) | {"n_features_in_"}) - set(attributes))
    if missing:
        raise _Invalid(f"it lacks the fitted attributes {missing}")
    for key, reference in built.items():
        if not _same_kind(attributes[key], reference):
            raise _Invalid(
                f"attribute {key!r} should be a {type(reference).__name__}, not a "
                f"{type(attributes[key]).__name__}"
            )
    likelihood = attributes.get("likelihood_")
    if hasattr(estimator, "tabular_"):
        # built from the table encoder, as fit does: nothing else may stand in
        if likelihood != estimator.likelihood_:
            raise _Invalid("its likelihood_ does not match its table encoder")
    elif isinstance(likelihood, Likelihood) and likelihood.n_params(
        n_inputs
    ) != estimator.likelihood_.n_params(n_inputs):
        raise _Invalid("its likelihood_ does not match the module's outputs")
    names = attributes.get("feature_names_in_")
    if names is not None and (
        not isinstance(names, np.ndarray) or names.shape != (n_features,)
    ):
        raise _Invalid("feature_names_in_ does not match n_features_in_")


def _check_tensor(tensor, reference, where):
    if tensor.shape != reference.shape or tensor.dtype != reference.dtype:
        raise _Invalid(
            f"tensor {where} has shape {list(tensor.shape)} and dtype "
            f"{tensor.dtype}, expected {list(reference.shape)} and {reference.dtype}"
        )
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise _Invalid(f"tensor {where} holds non-finite values")


def _load_module(module, tensors):
    expected = module.state_dict()
    missing, extra = expected.keys() - tensors.keys(), tensors.keys() - expected.keys()
    if missing or extra:
        raise _Invalid(
            f"its module weights do not match the model (missing: {sorted(missing)}, "
            f"unexpected: {sorted(extra)})"
        )
    for key, tensor in tensors.items():
        _check_tensor(tensor, expected[key], f"'module.{key}'")
    module.load_state_dict(tensors)


def _load_optimizer(optimizer, tensors, doc):
    fresh = optimizer.state_dict()
    # skvae builds Adam with lr=learning_rate_init and defaults otherwise: take
    # the learning rate from the file and everything else from this torch.
    saved = _decode(doc.get("param_groups"), "optimizer param_groups")
    if type(saved) is not list or len(saved) != len(fresh["param_groups"]):
        raise _Invalid("its optimizer param_groups do not match the model")
    groups = []
    for group, reference in zip(saved, fresh["param_groups"], strict=True):
        lr = group.get("lr") if type(group) is dict else None
        if not _is_number(lr) or not (math.isfinite(lr) and lr > 0):
            raise _Invalid("its optimizer learning rate is missing or invalid")
        if group.get("params") != reference["params"]:
            raise _Invalid("its optimizer param_groups list the wrong parameters")
        groups.append({**reference, "lr": lr})

    params = [p for group in optimizer.param_groups for p in group["params"]]
    indices = [i for group in fresh["param_groups"] for i in group["params"]]
    by_index = dict(zip(indices, params, strict=True))
    scalars = doc.get("state")
    if type(scalars) is not dict:
        raise _Invalid("its optimizer state is unreadable")
    state = {}
    for key, tensor in tensors.items():
        index, _, name = key.partition(".")
        if not index.isdigit() or int(index) not in by_index or not name:
            raise _Invalid(f"it holds an unexpected tensor 'optimizer.{key}'")
        param = by_index[int(index)]
        if tensor.dim():
            reference = param.detach()
        elif tensor.is_floating_point():  # a step count
            reference = torch.zeros((), dtype=tensor.dtype)
        else:
            raise _Invalid(f"tensor 'optimizer.{key}' has dtype {tensor.dtype}")
        _check_tensor(tensor, reference, f"'optimizer.{key}'")
        state.setdefault(int(index), {})[name] = tensor.clone()
    for index, entry in scalars.items():
        if not index.isdigit() or int(index) not in by_index or type(entry) is not dict:
            raise _Invalid("its optimizer state names unknown parameters")
        for name, value in entry.items():
            value = _decode(value, f"optimizer state {index}/{name}")
            if not _is_number(value):
                raise _Invalid(f"its optimizer state {index}/{name} is not a number")
            state.setdefault(int(index), {})[name] = value
    if type(optimizer) is torch.optim.Adam:
        needed = {"step", "exp_avg", "exp_avg_sq"}
        if optimizer.defaults.get("amsgrad"):
            needed.add("max_exp_avg_sq")
        if state and (
            state.keys() != by_index.keys()
            or any(entry.keys() != needed for entry in state.values())
        ):
            raise _Invalid("its Adam optimizer state is incomplete or inconsistent")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise _Invalid(f"its optimizer state cannot be restored ({exc})") from None
