"""Estimator <-> record: the document part and tensors of one estimator.

A record holds the class name, ``get_params()``, the fitted attributes the
class declared at registration (:func:`~._registry.register`), and, for an
autoencoder, the module's spec and optimizer document, its tensors named
``module.<name>`` and ``optimizer.<index>.<name>``; a wrapping estimator
nests its fitted estimator's record under ``"nested"``, with that
estimator's tensors prefixed by the attribute's name. Loading checks a
record completely (parameters through the class's ``_parameter_constraints``,
attributes through the declared schema, the likelihood and table encoder
against the parameters, every tensor entry against the module the spec
describes) before any tensor is made.
"""


import numpy as np

from ._codec import decode, encode
from ._messages import Invalid, quote, shorten
from ._model import (
    build,
    check_entries,
    check_rebuildable,
    check_widths,
    expected_likelihood,
    expected_tensors,
    learning_rate,
    model_tensors,
    module_spec,
)
from ._registry import check_n_features, later_params, registered, registration
from ._schema import Stored, check_attributes, derived_mismatch
from ._tables import encoded_width, tabular_mismatch

__all__ = ["describe", "rebuild"]


# --------------------------------------------------------------------- save


def describe(estimator, classes=None):
    """The record part and tensors of ``estimator``; TypeError/ValueError if
    the format cannot store it or ``load`` could not rebuild it."""
    cls = type(estimator)
    entry = registration(cls)
    allowed = registered() if classes is None else classes
    if entry is None or allowed.get(cls.__name__) is not entry:
        raise TypeError(
            f"cannot save a {cls.__qualname__}: only skvae's own estimators "
            f"({', '.join(sorted(allowed))}) can be saved, because skvae.load "
            "never imports code named by a file. Use pickle or joblib instead."
        )
    params = estimator.get_params(deep=False)
    nested = entry.nested.name if entry.nested else None
    stored = {k for k, spec in entry.attributes.items() if isinstance(spec, Stored)}
    attributes, raw = {}, {}
    for name, value in vars(estimator).items():
        if name in params or name == nested or name in stored:
            continue
        attributes[name] = encode(value, f"attribute {name!r}")
        raw[name] = value
    fitted = (
        bool(stored)
        and "module_" in vars(estimator)
        or (nested is not None and nested in vars(estimator))
    )
    for name in raw:
        spec = entry.attributes.get(name)
        if spec is None or (not fitted and not spec.unfitted):
            raise TypeError(
                f"cannot save attribute {name!r}: {cls.__name__} does not declare it "
                "among its fitted attributes, and skvae.load sets no other."
            )
    part = {
        "class": cls.__name__,
        "params": {k: encode(v, f"parameter {k!r}") for k, v in params.items()},
        "fitted": fitted,
        "attributes": attributes,
    }
    if nested is not None:
        return _describe_wrapper(estimator, entry, part, params)
    tensors = {}
    part["optimizer"] = None
    if fitted:
        tabular = getattr(estimator, "tabular_", None)
        n_inputs = estimator.n_features_in_
        if tabular is not None:
            changed = tabular_mismatch(params, tabular)
            if changed:
                raise ValueError(
                    f"cannot save: the estimator's parameters were changed after fit "
                    f"({', '.join(changed)}) and no longer describe how its table "
                    "was encoded. Refit, or set them back, before saving."
                )
            n_inputs = encoded_width(tabular)
        try:
            expected = expected_likelihood(params, n_inputs, tabular)
        except (KeyError, TypeError, ValueError):
            expected = None
        if expected != estimator.likelihood_:
            raise ValueError(
                "cannot save: the estimator's parameters were changed after fit and "
                "no longer describe its fitted likelihood_ (likelihood or "
                "covariance). Refit, or set them back, before saving."
            )
        changed = derived_mismatch(entry.attributes, raw, params)
        if changed:
            raise ValueError(
                "cannot save: the estimator's parameters were changed after fit "
                f"and no longer describe its fitted {', '.join(changed)} (for "
                "instance n_components). Refit, or set them back, before saving."
            )
        n_conditions = vars(estimator).get(entry.conditions, 0)
        check_rebuildable(
            estimator, params, estimator.likelihood_, n_inputs, n_conditions,
            raw.get("n_latent_"),
        )
        tensors, optimizer = model_tensors(estimator)
        part["optimizer"] = {
            "param_groups": encode(
                optimizer["param_groups"], "optimizer_ param_groups"
            ),
            "state": {},
        }
    part["random_state_shared"] = fitted and _shares(
        params, vars(estimator).get("_random_state")
    )
    return part, tensors


def _shares(params, other):
    """Whether a RandomState given as the ``random_state`` parameter is ``other``."""
    random_state = params.get("random_state")
    return isinstance(random_state, np.random.RandomState) and other is random_state


def _describe_wrapper(estimator, entry, part, params):
    name = entry.nested.name
    nested, tensors = {}, {}
    if part["fitted"]:
        model = vars(estimator)[name]
        classes = {c: registered()[c] for c in entry.nested.classes}
        if registration(type(model)) is None or type(model).__name__ not in classes:
            raise TypeError(
                f"cannot save attribute {name!r}: a {type(model).__qualname__} is "
                "not one of skvae's autoencoders."
            )
        if not hasattr(model, "module_"):
            raise ValueError(f"cannot save: its {name!r} is not fitted.")
        nested[name], inner = describe(model, classes)
        tensors = {f"{name}.{key}": t for key, t in inner.items()}
    part["nested"] = nested
    part["random_state_shared"] = part["fitted"] and _shares(
        params, vars(estimator)[name].random_state
    )
    return part, tensors


# --------------------------------------------------------------------- load


def _field(doc, key, kind, where="the document"):
    value = doc.get(key)
    if not isinstance(value, kind):
        raise Invalid(f"{where} lacks a valid {key!r} entry")
    return value


def rebuild(doc, container, target, classes, prefix=""):
    """The estimator one record and its tensors describe, every value checked;
    ``classes`` are the registrations it may name."""
    name = doc.get("class")
    if type(name) is not str or name not in classes:
        raise Invalid(
            f"it names the class {quote(name)}, which is not one of skvae's "
            f"estimators ({', '.join(sorted(classes))})"
        )
    entry = classes[name]
    cls = entry.cls
    raw_params = _field(doc, "params", dict)
    names = set(cls._get_param_names())
    for key, value in later_params(cls).items():
        if key in names - set(raw_params):
            # written before the parameter existed: what the model did then
            raw_params = {**raw_params, key: encode(value, key)}
    if set(raw_params) != names:
        missing, extra = names - set(raw_params), set(raw_params) - names
        raise Invalid(
            f"its parameters do not match {name}'s (missing: {sorted(missing)}, "
            f"unknown: {quote(sorted(extra))})"
        )
    params = {k: decode(v, f"parameter {k!r}") for k, v in raw_params.items()}
    attributes = {
        key: decode(value, f"attribute {quote(key)}")
        for key, value in _field(doc, "attributes", dict).items()
    }
    fitted = _field(doc, "fitted", bool)
    estimator = cls(**params)
    try:
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise Invalid(f"its parameters are invalid ({shorten(exc, 400)})") from None
    own = {k: v for k, v in container.entries.items() if k.startswith(prefix)}
    if entry.nested is not None:
        return _rebuild_wrapper(
            estimator, entry, params, attributes, doc, container, target, prefix, fitted
        )
    if not fitted:
        if own:
            raise Invalid("it stores weights for an estimator marked as unfitted")
        attributes = check_attributes(entry.attributes, attributes, params, False)
        vars(estimator).update(attributes)
        return estimator
    for key in own:
        head = key[len(prefix) :].partition(".")[0]
        if head not in ("module", "optimizer"):
            raise Invalid(f"it holds an unexpected tensor {quote(key)}")
    attributes = check_attributes(entry.attributes, attributes, params, fitted=True)
    n_conditions = attributes[entry.conditions] if entry.conditions else 0
    return _rebuild_model(
        estimator, params, attributes, doc, container, target, prefix, n_conditions
    )


def _rebuild_model(
    estimator, params, attributes, doc, container, target, prefix, n_conditions=0
):
    n_features = attributes["n_features_in_"]
    tabular = attributes.get("tabular_")
    n_inputs = n_features
    if tabular is not None:
        feature_names = attributes.get("feature_names_in_")
        if feature_names is not None and feature_names.tolist() != tabular.columns_:
            raise Invalid(
                "its feature_names_in_ differ from its table encoder's columns"
            )
        changed = tabular_mismatch(params, tabular)
        if changed:
            raise Invalid(
                "its table encoder was not fitted with the parameters "
                f"{', '.join(changed)}"
            )
        n_inputs = encoded_width(tabular)
    likelihood = attributes["likelihood_"]
    try:
        expected = expected_likelihood(params, n_inputs, tabular)
    except (TypeError, ValueError) as exc:
        raise Invalid(
            f"its parameters describe no likelihood ({shorten(exc)})"
        ) from None
    if likelihood != expected:
        source = "its table encoder" if tabular is not None else "its parameters"
        raise Invalid(f"its likelihood_ does not match {source}")
    try:
        check_n_features(likelihood, n_inputs)
    except ValueError as exc:
        raise Invalid(
            f"its likelihood_ does not match n_features_in_ ({shorten(exc)})"
        ) from None
    try:
        spec = module_spec(
            params, likelihood, n_inputs, n_conditions, attributes.get("n_latent_")
        )
    except ValueError as exc:
        raise Invalid(shorten(exc)) from None
    entries = {
        k[len(prefix) :]: v
        for k, v in container.entries.items()
        if k.startswith(prefix)
    }
    module_entries = {k: v for k, v in entries.items() if k.startswith("module.")}
    optimizer_entries = {k: v for k, v in entries.items() if k.startswith("optimizer.")}
    check_widths(spec, module_entries)
    _, expected = expected_tensors(spec, optimizer_entries)
    check_entries(entries, expected, prefix)
    optimizer_doc = _field(doc, "optimizer", dict)
    group = learning_rate(
        {
            "param_groups": decode(optimizer_doc.get("param_groups"), "optimizer"),
            "state": optimizer_doc.get("state"),
        },
        n_params=len([k for k in expected if k.startswith("module.")]),
    )
    # Every value is checked: now (and only now) read tensors and build.
    tensors = {k: container.tensor(prefix + k) for k in entries}
    module, optimizer = build(spec, tensors, group, target, prefix)
    vars(estimator).update(attributes)
    estimator.module_, estimator.optimizer_, estimator.device_ = (
        module,
        optimizer,
        target,
    )
    if doc.get("random_state_shared") is True and isinstance(
        estimator.random_state, np.random.RandomState
    ):
        estimator._random_state = estimator.random_state
    return estimator


def _rebuild_wrapper(
    estimator, entry, params, attributes, doc, container, target, prefix, fitted
):
    nested_name = entry.nested.name
    nested = _field(doc, "nested", dict)
    if not fitted:
        if nested or any(k.startswith(prefix) for k in container.entries):
            raise Invalid(
                "it stores a fitted model for an estimator marked as unfitted"
            )
        attributes = check_attributes(entry.attributes, attributes, params, False)
        vars(estimator).update(attributes)
        return estimator
    if set(nested) != {nested_name}:
        raise Invalid(
            f"it must nest exactly its fitted model {nested_name!r}, not "
            f"{quote(sorted(nested))}"
        )
    inner_prefix = f"{prefix}{nested_name}."
    for key in container.entries:
        if key.startswith(prefix) and not key.startswith(inner_prefix):
            raise Invalid(f"it holds an unexpected tensor {quote(key)}")
    if type(nested[nested_name]) is not dict:
        raise Invalid(f"its model {nested_name!r} is unreadable")
    allowed = {c: registered()[c] for c in entry.nested.classes}
    try:
        model = rebuild(nested[nested_name], container, target, allowed, inner_prefix)
    except Invalid as exc:
        raise Invalid(f"in its model {nested_name!r}, {exc}") from None
    if not hasattr(model, "module_"):
        raise Invalid(f"its model {nested_name!r} is not fitted")
    for key, value in entry.nested.params.items():
        if model.get_params(deep=False).get(key) != value:
            raise Invalid(
                f"its model {nested_name!r} was not fitted with {key}={value!r}"
            )
    attributes = check_attributes(
        entry.attributes, attributes, params, fitted=True, nested=model
    )
    vars(estimator).update(attributes)
    setattr(estimator, nested_name, model)
    if doc.get("random_state_shared") is True and isinstance(
        estimator.random_state, np.random.RandomState
    ):
        if getattr(model, "_random_state", None) is model.random_state:
            model._random_state = estimator.random_state
        model.random_state = estimator.random_state
    return estimator
