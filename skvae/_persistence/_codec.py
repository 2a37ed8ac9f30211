"""The tagged JSON of skvae files: plain values and a few tagged types.

JSON's own null, booleans, integers, finite floats, strings and lists stand
for themselves; every JSON object is a tagged value (``{"__skvae__": tag,
...}``) for a tuple, a dict, a non-finite float, a NumPy array, scalar or
dtype (numeric, bool or string dtypes only), a ``torch.device``, a
likelihood, a ``RandomState`` state or a table encoder. Decoding never
imports anything: a likelihood class is looked up in
:data:`~skvae._persistence._registry.LIKELIHOOD_CLASSES` and a table column
kind in :data:`skvae._columns.KINDS`; every value is checked, JSON objects
with duplicate keys are refused, nesting is bounded and no array may take
much more memory than its text.
"""

import json
import math

import numpy as np
import torch

from .._architectures import Architecture, ConvArchitecture, CustomArchitecture
from .._likelihoods import Likelihood
from .._tabular import TabularEncoder
from ._messages import Invalid, quote, shorten
from ._registry import check_likelihood, given_modules, likelihood_classes, qualname
from ._tables import tabular_from_state, tabular_state

__all__ = ["encode", "decode", "parse_json", "TAG", "check_dtype"]

TAG = "__skvae__"
_MT19937_WORDS = 624
#: deepest nesting of tagged values a document may have
MAX_DEPTH = 64


# ------------------------------------------------------------------ JSON text


def _unique_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        seen, dup = set(), None
        for key in keys:
            if key in seen:
                dup = key
                break
            seen.add(key)
        raise ValueError(f"duplicate key {quote(dup)} in a JSON object")
    return dict(pairs)


def _reject_constant(name):
    raise ValueError(f"the constant {name} is not allowed")


def parse_json(text, where):
    """``json.loads`` that refuses duplicate keys, NaN/Infinity and deep nesting."""
    try:
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"{where} is not valid JSON ({shorten(exc)})") from None


# ---------------------------------------------------------------- encoding


def _float_tag(x):
    return {TAG: "float", "value": repr(x)}  # 'nan', 'inf' or '-inf'


def check_dtype(dtype, where, *, allow_object):
    ok = (dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8)) or (
        dtype.kind == "U" or (allow_object and dtype.kind == "O")
    )
    if not ok or dtype.fields is not None or dtype.subdtype is not None:
        raise Invalid(f"{where} has unsupported dtype {quote(dtype.str)}")


def _save_check_dtype(dtype, where, *, allow_object):
    try:
        check_dtype(dtype, where, allow_object=allow_object)
    except Invalid as exc:
        raise TypeError(f"cannot save {exc}.") from None


def encode(value, where):
    """The tagged-JSON form of ``value``; TypeError naming ``where`` if impossible."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else _float_tag(value)
    if type(value) is list:
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is tuple:
        return {
            TAG: "tuple",
            "items": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)],
        }
    if type(value) is dict:
        items = [
            [encode(k, f"{where} key {k!r}"), encode(v, f"{where}[{k!r}]")]
            for k, v in value.items()
        ]
        return {TAG: "dict", "items": items}
    if isinstance(value, np.generic):
        _save_check_dtype(value.dtype, where, allow_object=False)
        return {TAG: "scalar", "dtype": value.dtype.str, "value": _encode_item(value)}
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
            TAG: "ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "data": flat,
        }
    if isinstance(value, np.dtype):
        _save_check_dtype(value, where, allow_object=True)
        return {TAG: "dtype", "value": value.str}
    if type(value) is torch.device:
        return {TAG: "device", "value": str(value)}
    if isinstance(value, Likelihood):
        return _encode_likelihood(value, where)
    if isinstance(value, Architecture):
        return _encode_architecture(value, where)
    if type(value) is TabularEncoder:
        return {TAG: "tabular", "state": encode(tabular_state(value), where)}
    if type(value) is np.random.RandomState:
        name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return {
            TAG: "random_state",
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": encode(float(cached), where),
        }
    raise TypeError(
        f"cannot save {where}: values of type {type(value).__qualname__} are not "
        "supported by the skvae file format (it stores None, bool, int, float, "
        "str, lists, tuples, dicts, NumPy arrays, scalars and dtypes of numeric, "
        "bool or str dtype, torch devices, skvae likelihoods, table encoders and "
        "RandomState instances). "
        "Use pickle or joblib to store such an estimator where you trust the file."
    )


def _encode_item(value):
    item = value.item()
    if type(item) is float and not math.isfinite(item):
        return _float_tag(item)
    return item


def _encode_likelihood(value, where):
    classes = likelihood_classes()
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
    except (TypeError, ValueError):
        rebuilt = None
    if rebuilt != value:
        raise TypeError(
            f"cannot save {where}: {value!r} cannot be rebuilt from its get_params()."
        )
    return {
        TAG: "likelihood",
        "class": name,
        "params": encode(params, f"{where} parameters"),
    }


def _check_plain(value, where):
    """Refuse what is not plain JSON data (tuples allowed)."""
    if value is None or type(value) in (bool, int, str):
        return
    if type(value) is float:
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if type(value) is dict and all(type(k) is str for k in value):
        for k, v in value.items():
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"cannot save {where}: {type(value).__qualname__} is not plain data "
        "(None, bool, int, float, str, lists, tuples, dicts with str keys)."
    )


def _encode_architecture(value, where):
    if type(value) is ConvArchitecture:
        params = value.get_params()
        _check_plain(params, f"{where} parameters")
    elif type(value) is CustomArchitecture:
        params = value.get_params(deep=False)
        kwargs = {k: params[k] for k in ("encoder_kwargs", "decoder_kwargs")}
        _check_plain(kwargs, f"{where} parameters")
        names = {p: qualname(getattr(value, p)) for p in ("encoder", "decoder")}
        for part, name in names.items():
            if "<" in name:
                raise TypeError(
                    f"cannot save {where}: its {part} {name} has no importable "
                    "qualified name (a lambda or a local class); define it at "
                    "module level."
                )
        params = {**names, **kwargs}
    else:
        raise TypeError(
            f"cannot save {where}: {type(value).__qualname__} is not one of skvae's "
            "architectures (ConvArchitecture, CustomArchitecture)."
        )
    return {
        TAG: "architecture",
        "class": type(value).__name__,
        "params": encode(params, f"{where} parameters"),
    }


# ---------------------------------------------------------------- decoding


def decode(obj, where, _depth=0):
    """Inverse of :func:`encode`, checking every value; raises ``Invalid``."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if _depth > MAX_DEPTH:
        raise Invalid(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if type(obj) is list:
        return [decode(v, f"{where}[{i}]", _depth + 1) for i, v in enumerate(obj)]
    if type(obj) is not dict:
        raise Invalid(f"{where} has an unreadable value")
    tag = obj.get(TAG)
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise Invalid(f"{where} has an unknown value tag {quote(tag)}")
    expected = _DECODER_FIELDS[tag] | {TAG}
    if set(obj) != expected:
        raise Invalid(f"{where}: a {tag!r} value needs the fields {sorted(expected)}")
    return decoder(obj, where, _depth + 1)


def _decode_float(obj, where, depth):
    text = obj["value"]
    if text not in ("nan", "inf", "-inf"):
        raise Invalid(f"{where} has an invalid float {quote(text)}")
    return float(text)


def _items(obj, where):
    if type(obj["items"]) is not list:
        raise Invalid(f"{where} has no list of items")
    return obj["items"]


def _decode_tuple(obj, where, depth):
    return tuple(
        decode(v, f"{where}[{i}]", depth) for i, v in enumerate(_items(obj, where))
    )


def _decode_dict(obj, where, depth):
    out = {}
    for pair in _items(obj, where):
        if type(pair) is not list or len(pair) != 2:
            raise Invalid(f"{where} has a malformed dict entry")
        key = decode(pair[0], f"{where} key", depth)
        if not isinstance(key, (str, int, float, bool, tuple, type(None))):
            raise Invalid(f"{where} has a dict key of type {type(key).__name__}")
        try:
            hash(key)
        except TypeError:
            raise Invalid(f"{where} has an unhashable dict key") from None
        if key in out:
            raise Invalid(f"{where} has the key {quote(key)} twice")
        out[key] = decode(pair[1], f"{where}[{quote(key)}]", depth)
    return out


def _parse_dtype(text, where, *, allow_object):
    if type(text) is not str:
        raise Invalid(f"{where} has no dtype string")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise Invalid(f"{where} has an invalid dtype {quote(text)}") from None
    if dtype.str != text:
        raise Invalid(f"{where} has a non-canonical dtype {quote(text)}")
    check_dtype(dtype, where, allow_object=allow_object)
    return dtype


_ELEMENT_TYPES = {
    "b": (bool,),
    "i": (int,),
    "u": (int,),
    "f": (float, int),
    "U": (str,),
    "O": (str,),
}


def _check_element(value, kind, where):
    """An element of an array or scalar of dtype kind ``kind``, checked."""
    if kind == "f" and type(value) is dict:
        if value.get(TAG) != "float" or set(value) != {TAG, "value"}:
            raise Invalid(f"{where} holds an invalid element")
        return _decode_float(value, where, 0)
    if type(value) not in _ELEMENT_TYPES[kind]:
        raise Invalid(f"{where} holds a {type(value).__name__} in a {kind!r} array")
    return value


def _decode_ndarray(obj, where, depth):
    dtype = _parse_dtype(obj["dtype"], where, allow_object=True)
    shape, data = obj["shape"], obj["data"]
    if (
        type(shape) is not list
        or len(shape) > 32
        or not all(type(s) is int and s >= 0 for s in shape)
    ):
        raise Invalid(f"{where} has an invalid shape")
    if type(data) is not list or math.prod(shape) != len(data):
        raise Invalid(f"{where}: the data do not match the shape {shape}")
    data = [_check_element(v, dtype.kind, where) for v in data]
    if dtype.kind == "U":
        # a fixed-width string array takes itemsize bytes per element: bound
        # it by the text it was read from, or a short file declares gigabytes
        chars = sum(len(v) for v in data)
        if dtype.itemsize * len(data) > 16 * (len(data) + chars) + 4096:
            raise Invalid(
                f"{where} declares {dtype.str} strings far wider than its data"
            )
    try:
        if dtype.kind == "O":
            array = np.empty(len(data), dtype=object)
            array[:] = data
        else:
            array = np.array(data, dtype=dtype)
        return array.reshape(shape)
    except (OverflowError, ValueError, TypeError) as exc:
        raise Invalid(f"{where} cannot be rebuilt ({shorten(exc)})") from None


def _decode_scalar(obj, where, depth):
    dtype = _parse_dtype(obj["dtype"], where, allow_object=False)
    value = _check_element(obj["value"], dtype.kind, where)
    try:
        with np.errstate(over="raise"):
            return dtype.type(value)
    except (OverflowError, ValueError, TypeError, FloatingPointError):
        raise Invalid(f"{where}: {quote(value)} does not fit in {dtype.str}") from None


def _decode_device(obj, where, depth):
    text = obj["value"]
    if type(text) is not str or len(text) > 64:
        raise Invalid(f"{where} has an invalid device")
    try:
        return torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise Invalid(f"{where} names no valid device: {quote(text)}") from None


def _decode_likelihood(obj, where, depth):
    name = obj["class"]
    classes = likelihood_classes()
    if type(name) is not str or name not in classes:
        raise Invalid(
            f"{where} names the class {quote(name)}, which is not one of skvae's "
            f"likelihoods ({', '.join(sorted(classes))})"
        )
    params = decode(obj["params"], f"{where} parameters", depth)
    if type(params) is not dict or not all(type(k) is str for k in params):
        raise Invalid(f"{where} has invalid parameters")
    try:
        likelihood = classes[name](**params)
    except (TypeError, ValueError) as exc:
        raise Invalid(
            f"{where}: {name} rejects its parameters ({shorten(exc)})"
        ) from None
    try:
        check_likelihood(likelihood)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{where}: {shorten(exc)}") from None
    return likelihood


def _decode_architecture(obj, where, depth):
    name = obj["class"]
    params = decode(obj["params"], f"{where} parameters", depth)
    if type(params) is not dict or not all(type(k) is str for k in params):
        raise Invalid(f"{where} has invalid parameters")
    if name == "ConvArchitecture":
        if set(params) != set(ConvArchitecture._param_names):
            raise Invalid(f"{where} has invalid ConvArchitecture parameters")
        return ConvArchitecture(**params)
    if name != "CustomArchitecture":
        raise Invalid(
            f"{where} names the architecture {quote(name)}, not one of skvae's"
        )
    if set(params) != set(CustomArchitecture._param_names):
        raise Invalid(f"{where} has invalid CustomArchitecture parameters")
    given = given_modules()
    for part in ("encoder", "decoder"):
        cls = params[part]
        if type(cls) is not str or cls not in given:
            raise Invalid(
                f"{where}: its {part} is the class {quote(cls)}, which was not "
                "passed to load(path, modules=[...]); skvae never imports a class "
                "a file names, so pass the encoder and decoder classes explicitly"
            )
        params[part] = given[cls]
    for part in ("encoder_kwargs", "decoder_kwargs"):
        kwargs = params[part]
        if kwargs is not None and type(kwargs) is not dict:
            raise Invalid(f"{where} has invalid {part}")
    return CustomArchitecture(**params)


def _decode_dtype(obj, where, depth):
    return _parse_dtype(obj["value"], where, allow_object=True)


def _decode_tabular(obj, where, depth):
    state = decode(obj["state"], where, depth)
    try:
        return tabular_from_state(state)
    except ValueError as exc:
        raise Invalid(f"{where}: {shorten(exc, 1000)}") from None


def _decode_random_state(obj, where, depth):
    keys, pos, has_gauss = obj["keys"], obj["pos"], obj["has_gauss"]
    cached = decode(obj["cached_gaussian"], where, depth)
    if (
        type(keys) is not list
        or len(keys) != _MT19937_WORDS
        or not all(type(k) is int and 0 <= k < 2**32 for k in keys)
        or type(pos) is not int
        or not 0 <= pos <= _MT19937_WORDS
        or has_gauss not in (0, 1)
        or type(has_gauss) is not int
        or type(cached) is not float
    ):
        raise Invalid(f"{where} has an invalid RandomState state")
    state = ("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached)
    random_state = np.random.RandomState()
    try:
        random_state.set_state(state)
    except (TypeError, ValueError) as exc:
        raise Invalid(
            f"{where} has an invalid RandomState state ({shorten(exc)})"
        ) from None
    return random_state


_DECODERS = {
    "float": _decode_float,
    "tuple": _decode_tuple,
    "dict": _decode_dict,
    "ndarray": _decode_ndarray,
    "scalar": _decode_scalar,
    "device": _decode_device,
    "likelihood": _decode_likelihood,
    "architecture": _decode_architecture,
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
    "architecture": {"class", "params"},
    "random_state": {"keys", "pos", "has_gauss", "cached_gaussian"},
    "dtype": {"value"},
    "tabular": {"state"},
}
