"""Save and load estimators without pickle: one safetensors file.

An skvae file is a `safetensors <https://github.com/huggingface/safetensors>`_
file. Its tensors are the module's weights (``module.<name>``) and the
optimizer's state (``optimizer.<index>.<name>``), all on the CPU. Its string
metadata holds the JSON document (``skvae``: the format version, the library
versions that wrote it and the estimator's record, see :mod:`._records`) and
a SHA-256 digest of the document and of every tensor (``skvae_sha256``).

The package has four parts, whose imports point down to the torch core
(``_module``, ``_likelihoods``, ``_mixed``, ``_optim``) and the tables
(``_tabular``), never to an estimator:

``_codec``
    The tagged JSON of values (duplicate keys refused, nesting bounded).
``_container``
    The safetensors layout: digest, atomic write, a bounded read of regular
    files only, header and tensor entries checked before any tensor is made.
``_records``
    Estimator <-> record, checked against the registration (``_schema``,
    ``_model`` for the module and optimizer, ``_tables`` for table encoders).
``_registry``
    The classes the format may build: estimators register themselves with
    :func:`register`; likelihoods are skvae's own, by name.

Format versions: 1 stored autoencoders fitted on numeric arrays; 2 adds the
``dtype`` and ``tabular`` tags and nested estimators. :func:`load` reads
both. The module's spec is not stored: it is derived from the validated
parameters, likelihood and input width, so a file cannot contradict it.
"""

import importlib.metadata
import os

import numpy as np
import safetensors
import torch

from .._utils import resolve_device
from .._version import __version__
from ._codec import decode as _decode  # noqa: F401  (for the tests, as before)
from ._codec import encode as _encode  # noqa: F401
from ._codec import parse_json
from ._container import digest as _digest  # noqa: F401
from ._container import read, verify, write_atomic
from ._messages import Invalid, shorten
from ._records import describe, rebuild
from ._registry import Nested, later_params, modules_given, register, registered
from ._schema import (
    Float,
    FloatArray,
    Floats,
    Instance,
    Int,
    Labels,
    LatentMixture,
    OutputConfig,
    Records,
    Stored,
    StrArray,
    Table,
)

__all__ = [
    "save",
    "load",
    "FORMAT_VERSION",
    "register",
    "Nested",
    "later_params",
    "Float",
    "FloatArray",
    "Floats",
    "Instance",
    "Int",
    "Labels",
    "LatentMixture",
    "OutputConfig",
    "Records",
    "Stored",
    "StrArray",
    "Table",
]

#: version of the file layout written by :func:`save`; :func:`load` reads up to it
FORMAT_VERSION = 2

_FORMAT_NAME = "skvae"
#: longest error message :func:`load` raises (strings from the file are cut
#: to 200 characters each; this bounds their sum)
_MAX_MESSAGE = 2000


def _versions():
    return {
        "skvae": str(__version__),
        "torch": str(torch.__version__),
        # read from the installed metadata: the format imports no scikit-learn
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "numpy": str(np.__version__),
        "safetensors": str(safetensors.__version__),
    }


def save(estimator, path):
    """Save a skvae estimator to one file that :func:`load` reads without pickle.

    The file is a safetensors file: the module's weights and the optimizer's
    state as tensors, and the parameters, fitted attributes and library
    versions as JSON metadata. Tensors are stored on the CPU whatever the
    device. The file is written to a temporary file next to ``path`` (named
    after it, so an interrupted save leaves nothing the next save does not
    replace), which is then renamed over ``path``: a failed save never leaves
    a truncated file in its place, and an existing file's permission bits
    are kept.

    Parameters
    ----------
    estimator : VAETransformer, AutoencoderTransformer or VAEImputer
        Fitted or not, on numeric arrays, mixed-type DataFrames or incomplete
        data.
    path : str, bytes or os.PathLike
        File to write; replaced if it exists.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If the estimator is not one of skvae's registered classes, an
        attribute is not one its class declares, or a value cannot be stored
        (the message names it).
    ValueError
        If the fitted weights are not finite, or the parameters were changed
        after ``fit`` so that they no longer describe the fitted module.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skvae
    >>> from skvae._persistence import save
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> vae = skvae.VAETransformer(hidden_layer_sizes=(8,), max_iter=2,
    ...                            device="cpu", random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "vae.safetensors")
    ...     save(vae, path)
    ...     sorted(os.listdir(tmp))
    ['vae.safetensors']
    """
    path = os.fspath(path)
    part, tensors = describe(estimator)
    doc = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        **part,
    }
    import json

    doc_text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    write_atomic(path, tensors, doc_text)


def load(path, *, device="cpu", modules=None):
    """Load an estimator saved by :meth:`~skvae.VAETransformer.save`.

    Nothing in the file is executed: it is never unpickled, and the classes it
    names are looked up among skvae's registered estimators, its own
    likelihoods, column kinds and pandas dtypes, never imported. Only a state
    ``fit`` could have produced is accepted: the parameters pass the
    estimator's ``_parameter_constraints``, the fitted attributes its declared
    schema (unknown and missing ones are refused), the likelihood and table
    encoding their own checks and the parameters, and every tensor's name,
    shape and dtype must be those of the module the validated metadata
    describe. Only a regular file is read (a device or pipe is refused at
    once), the safetensors header is checked before any tensor is made, and a
    SHA-256 digest of the whole content is verified. Nothing is allocated for
    the model before all of this holds, so refusing a file takes memory in
    proportion to its size, not to what it declares. A model fitted on a GPU
    loads on a machine without one.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        File written by ``save``.
    device : str or torch.device, default="cpu"
        Where to put the module (a VAEImputer's ``vae_``); ``"auto"`` picks
        CUDA when available; ``"meta"`` is refused. The ``device`` parameter
        of the estimator is restored as saved, so a later ``fit`` uses it;
        ``device_`` is the device given here.
    modules : list of type or callable, optional
        The encoder and decoder classes (or factories) of a model with a
        :class:`~skvae.CustomArchitecture`. The file names them by
        qualified name and they are looked up only among these: skvae never
        imports a class a file names, and a file naming one not passed here
        is refused.

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
        If the file is empty, truncated, damaged, not a regular file, not an
        skvae file (a pickle, another safetensors file...), tampered with, or
        written by a newer version of the format; or if ``device`` is not
        available. The message starts with the path and says what is wrong,
        quoting at most 200 characters of any string from the file.
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
    if target.type == "meta":
        raise ValueError(
            "device='meta' holds no data; load onto a real device such as 'cpu'."
        )
    path = os.fspath(path)
    with modules_given(modules):
        try:
            return _load(path, target)
        except Invalid as exc:
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
            MemoryError,
        ) as exc:
            name = type(exc).__name__
            message = f"damaged or tampered content ({name}: {shorten(exc)})"
        raise ValueError(f"Cannot load {path!r}: {shorten(message, _MAX_MESSAGE)}.")


def _load(path, target):
    container = read(path)
    doc = parse_json(container.doc_text, "its skvae metadata")
    if type(doc) is not dict or doc.get("format") != _FORMAT_NAME:
        raise Invalid("its skvae metadata is not an skvae document")
    version = doc.get("format_version")
    if type(version) is not int or version < 1:
        raise Invalid(f"it has an invalid format version {shorten(repr(version))}")
    if version > FORMAT_VERSION:
        versions = doc.get("versions")
        writer = versions.get("skvae") if type(versions) is dict else None
        raise Invalid(
            f"it was written in skvae file format version {version}"
            + (f" (by skvae {shorten(writer, 40)})" if type(writer) is str else "")
            + f", newer than version {FORMAT_VERSION} that skvae "
            f"{__version__} reads; upgrade skvae to load it"
        )
    verify(container)
    return rebuild(doc, container, target, registered())
