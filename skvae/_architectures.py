"""Network architectures of the autoencoders: plain-data objects that build
an encoder and a decoder.

An architecture is chosen as a likelihood is: ``"mlp"`` (the default, the
network of ``hidden_layer_sizes``), ``"conv"`` (:class:`ConvArchitecture`
with its defaults), or an :class:`Architecture` object. Architectures hold
only their parameters, read and changed with ``get_params``/``set_params``
(hand-written, no scikit-learn), so ``clone``, nested ``set_params``
(``architecture__channels``) and grid searches work on them.

The contract user modules must meet is written once, in the Notes of
:class:`CustomArchitecture`.
"""

import inspect
import itertools
import math
from numbers import Integral

import torch
from torch import nn

__all__ = [
    "Architecture",
    "ConvArchitecture",
    "CustomArchitecture",
    "ARCHITECTURES",
    "make_architecture",
    "check_image_shape",
    "reset_parameters",
    "probe",
]

#: activation names, as in scikit-learn's MLP
ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class Architecture:
    """Base of the architectures: plain data that builds encoder and decoder.

    Subclasses list their constructor parameters in ``_param_names`` and
    implement :meth:`build`. ``get_params``/``set_params`` follow
    scikit-learn's conventions, so an estimator holding an architecture can
    be cloned and grid-searched over ``architecture__<name>``.
    """

    _param_names = ()

    def get_params(self, deep=True):
        """The constructor parameters, as a dict."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {list(self._param_names)}."
                )
            setattr(self, name, value)
        return self

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash(type(self).__name__)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def check_params(self, image_shape, n_features):
        """Raise a ValueError if the parameters cannot build a network."""

    def build(self, n_features, n_components, n_outputs, image_shape):
        """The encoder and decoder modules (built in the current device context)."""
        raise NotImplementedError

    uses_image_shape = False


def _positive_ints(value, name, owner):
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if (
        not items
        or isinstance(value, str | bytes)
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in items
        )
    ):
        raise ValueError(
            f"{owner}: {name} must be a non-empty sequence of positive integers, "
            f"got {value!r}."
        )
    return tuple(int(v) for v in items)


def check_image_shape(image_shape, n_features):
    """``image_shape`` as a tuple ``(channels, height, width)`` whose product
    is ``n_features``, or a ValueError naming it."""
    if image_shape is None:
        raise ValueError(
            "architecture='conv' needs image_shape=(channels, height, width), "
            "whose product is the number of features of X (the flattened pixels)."
        )
    shape = _positive_ints(image_shape, "image_shape", "architecture='conv'")
    if len(shape) != 3:
        raise ValueError(
            f"image_shape must be (channels, height, width), got {image_shape!r}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} has {math.prod(shape)} values, but X has "
            f"{n_features} features; they must be equal (X holds flattened images)."
        )
    return shape


def _conv_sizes(size, n_layers, kernel_size, shape):
    """Spatial sizes after each stride-2 convolution, and the output padding
    each transposed convolution needs to give back the size exactly."""
    padding = (kernel_size - 1) // 2
    sizes, pads = [size], []
    for _ in range(n_layers):
        out = (sizes[-1] + 2 * padding - kernel_size) // 2 + 1
        if out < 1:
            raise ValueError(
                f"image_shape={shape} is too small for {n_layers} stride-2 "
                f"convolutions of kernel_size={kernel_size}; use fewer channels "
                "(layers) or a smaller kernel_size."
            )
        pads.append(sizes[-1] - ((out - 1) * 2 - 2 * padding + kernel_size))
        sizes.append(out)
    if any(p not in (0, 1) for p in pads):
        raise ValueError(
            f"image_shape={shape} cannot be rebuilt exactly by transposed "
            f"convolutions of kernel_size={kernel_size}; use kernel_size 3, 4 or 5."
        )
    return sizes, pads


class ConvArchitecture(Architecture):
    """Convolutional encoder and decoder for images given as flattened rows.

    The encoder is ``len(channels)`` convolutions of stride 2 (each followed
    by ``activation``), then a linear layer to the means and log standard
    deviations of q(z | x). The decoder mirrors it: a linear layer, then
    transposed convolutions of stride 2 back to the image's size exactly
    (odd sizes such as 7 are given back with an output padding), with one
    channel per likelihood parameter per image channel. Its output feeds any
    likelihood whose per-row parameters are a whole number per pixel
    (Bernoulli, Gaussian with diagonal or full covariance).

    Parameters
    ----------
    channels : tuple of int, default=(32, 64)
        Output channels of the encoder's convolutions; the decoder mirrors
        them. Each halves the height and width (rounding down).
    kernel_size : int, default=4
        Side of the square kernels (3 to 8; padding ``(kernel_size - 1) // 2``).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Nonlinearity after each convolution and the decoder's linear layer.

    Examples
    --------
    >>> import torch
    >>> from skvae import ConvArchitecture
    >>> arch = ConvArchitecture(channels=(8, 16))
    >>> encoder, decoder = arch.build(64, 2, 64, (1, 8, 8))
    >>> encoder(torch.zeros(5, 64)).shape, decoder(torch.zeros(5, 2)).shape
    (torch.Size([5, 4]), torch.Size([5, 64]))
    """

    _param_names = ("channels", "kernel_size", "activation")
    uses_image_shape = True

    def __init__(self, channels=(32, 64), kernel_size=4, activation="relu"):
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation

    def check_params(self, image_shape, n_features):
        """Raise a ValueError naming what cannot build a network for the images."""
        owner = "ConvArchitecture"
        shape = check_image_shape(image_shape, n_features)
        channels = _positive_ints(self.channels, "channels", owner)
        k = self.kernel_size
        if not (isinstance(k, Integral) and not isinstance(k, bool) and 3 <= k <= 8):
            raise ValueError(
                f"{owner}: kernel_size must be an integer in [3, 8], got {k!r}."
            )
        if not (isinstance(self.activation, str) and self.activation in ACTIVATIONS):
            raise ValueError(
                f"{owner}: activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}."
            )
        for size in shape[1:]:
            _conv_sizes(size, len(channels), int(k), shape)
        return shape, channels, int(k)

    def build(self, n_features, n_components, n_outputs, image_shape):
        shape, channels, k = self.check_params(image_shape, n_features)
        n_params, rest = divmod(n_outputs, n_features)
        if rest or not n_params:
            raise ValueError(
                f"ConvArchitecture: the likelihood needs {n_outputs} outputs per "
                f"row, not a whole number per pixel of image_shape={shape}."
            )
        act = ACTIVATIONS[self.activation]
        (hs, h_pad), (ws, w_pad) = (
            _conv_sizes(s, len(channels), k, shape) for s in shape[1:]
        )
        padding = (k - 1) // 2
        encoder = [nn.Unflatten(1, shape)]
        for c_in, c_out in itertools.pairwise((shape[0], *channels)):
            encoder += [nn.Conv2d(c_in, c_out, k, stride=2, padding=padding), act()]
        flat = channels[-1] * hs[-1] * ws[-1]
        encoder += [nn.Flatten(), nn.Linear(flat, 2 * n_components)]
        decoder = [
            nn.Linear(n_components, flat),
            act(),
            nn.Unflatten(1, (channels[-1], hs[-1], ws[-1])),
        ]
        outs = (*channels[:-1][::-1], n_params * shape[0])
        for i, (c_in, c_out) in enumerate(zip(channels[::-1], outs, strict=True)):
            j = len(channels) - 1 - i  # the encoder layer this one undoes
            decoder.append(
                nn.ConvTranspose2d(
                    c_in,
                    c_out,
                    k,
                    stride=2,
                    padding=padding,
                    output_padding=(h_pad[j], w_pad[j]),
                )
            )
            if j:
                decoder.append(act())
        decoder.append(nn.Flatten())  # (n, n_params * C, H, W): parameter-major
        return nn.Sequential(*encoder), nn.Sequential(*decoder)


def _qualname(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


class CustomArchitecture(Architecture):
    """Encoder and decoder built from the user's own ``torch.nn.Module`` classes.

    The modules must meet the module contract (Notes, below): the encoder is built
    as ``encoder(n_features=..., n_components=..., **encoder_kwargs)`` and maps
    ``(n, n_features)`` to ``(n, 2 * n_components)`` (means, then log standard
    deviations); the decoder is built as ``decoder(n_components=...,
    n_outputs=..., **decoder_kwargs)`` and maps ``(n, n_components)`` to
    ``(n, n_outputs)``.

    Keyword arguments are routed as in scikit-learn pipelines:
    ``set_params(encoder__width=64)`` sets ``encoder_kwargs["width"]``, so
    ``GridSearchCV`` can search ``architecture__encoder__width``.

    Parameters
    ----------
    encoder, decoder : type or callable
        The module classes (or factories returning a module).
    encoder_kwargs, decoder_kwargs : dict or None, default=None
        Further keyword arguments of their constructors.

    Notes
    -----
    **The module contract** (the one place it is written).
    :class:`CustomArchitecture` takes two ``torch.nn.Module`` classes (or any
    callables returning a module). skvae builds them as::

        encoder = encoder_cls(n_features=..., n_components=..., **encoder_kwargs)
        decoder = decoder_cls(n_components=..., n_outputs=..., **decoder_kwargs)

    under ``torch.device("meta")`` (so nothing is allocated when a file is
    checked), then moves them to the CPU and initialises them (below).

    * ``encoder(x)``: ``x`` of shape ``(n, n_features)`` (flattened rows, in
      float32, float64 or under bfloat16 autocast) returns ``(n, 2 * n_components)``:
      the means of q(z | x) then their log standard deviations.
    * ``decoder(z)``: ``z`` of shape ``(n, n_components)`` returns
      ``(n, n_outputs)``: the likelihood's per-row parameters (for Bernoulli the
      logits of each feature; for Gaussian the mean of each feature, the scale
      being a shared parameter skvae adds).
    * skvae calls only ``__call__`` (``forward``), ``parameters()``,
      ``state_dict()``/``load_state_dict()``, ``to()`` and ``modules()``.
    * Initialisation: every ``nn.Linear``, ``nn.Conv*d`` and ``nn.ConvTranspose*d``
      inside is initialised as torch's default but from the estimator's
      ``torch.Generator`` (``random_state``); another submodule with a
      ``reset_parameters`` method is reset by it (norm layers: deterministic;
      if it accepts a ``generator`` keyword, skvae passes its generator); any
      other parameter or floating-point buffer starts at zero (the modules are
      built on the meta device, so a constant set in a constructor is not
      kept: give it a ``reset_parameters`` or compute it in ``forward``).
    * Ordering the latent dimensions by KL (as ``VAETransformer`` does) needs the
      encoder to be an ``nn.Sequential`` ending in an ``nn.Linear`` with
      ``2 * n_components`` outputs and the decoder an ``nn.Sequential`` starting
      with an ``nn.Linear`` with ``n_components`` inputs; otherwise the latent
      order is kept as trained and ``kl_per_component_`` is not sorted.
    * ``n_outputs`` is the number of per-row likelihood parameters the network
      gives: ``likelihood.n_params(n_features)`` less the parameters shared by
      all rows (``likelihood.n_shared_params``).
    * Saving: ``save`` stores the weights, the keyword arguments and the
      classes' qualified names (``module.QualName``; define them at module
      level). ``skvae.load(path, modules=[MyEncoder, MyDecoder])`` looks the
      names up only among the classes passed, never imports one, and refuses
      (ValueError) a file naming a class that was not passed.
      ``encoder_kwargs`` and ``decoder_kwargs`` must be plain JSON data (None,
      bool, int, float, str, lists, tuples, dicts with str keys). Pickle
      stores the classes by reference, as pickle does.

    ``fit`` checks the contract on a probe batch of two rows before training; a
    module that breaks it is refused with a ValueError naming the mismatch, and
    the estimator is left as it was.

    Examples
    --------
    >>> from torch import nn
    >>> from skvae import CustomArchitecture
    >>> def encoder(n_features, n_components, width=8):
    ...     return nn.Sequential(nn.Linear(n_features, width), nn.ReLU(),
    ...                          nn.Linear(width, 2 * n_components))
    >>> def decoder(n_components, n_outputs, width=8):
    ...     return nn.Sequential(nn.Linear(n_components, width), nn.ReLU(),
    ...                          nn.Linear(width, n_outputs))
    >>> arch = CustomArchitecture(encoder, decoder, encoder_kwargs={"width": 4})
    >>> arch.set_params(encoder__width=16).encoder_kwargs
    {'width': 16}
    """

    _param_names = ("encoder", "decoder", "encoder_kwargs", "decoder_kwargs")

    def __init__(self, encoder, decoder, encoder_kwargs=None, decoder_kwargs=None):
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_kwargs = encoder_kwargs
        self.decoder_kwargs = decoder_kwargs

    def get_params(self, deep=True):
        params = super().get_params()
        if deep:
            for part in ("encoder", "decoder"):
                for k, v in (params[f"{part}_kwargs"] or {}).items():
                    params[f"{part}__{k}"] = v
        return params

    def set_params(self, **params):
        routed = {}
        for name, value in params.items():
            part, sep, key = name.partition("__")
            if sep and part in ("encoder", "decoder"):
                routed.setdefault(f"{part}_kwargs", {})[key] = value
            else:
                super().set_params(**{name: value})
        for name, updates in routed.items():
            setattr(self, name, {**(getattr(self, name) or {}), **updates})
        return self

    def __eq__(self, other):
        return type(self) is type(other) and Architecture.get_params(
            self
        ) == Architecture.get_params(other)

    __hash__ = Architecture.__hash__

    def class_names(self):
        """Qualified names of the encoder and decoder classes, as saved."""
        return _qualname(self.encoder), _qualname(self.decoder)

    def check_params(self, image_shape, n_features):
        for part in ("encoder", "decoder"):
            if not callable(getattr(self, part)):
                raise ValueError(
                    f"CustomArchitecture: {part} must be an nn.Module class or a "
                    f"callable returning one, got {getattr(self, part)!r}."
                )
            kwargs = getattr(self, f"{part}_kwargs")
            if kwargs is not None and not (
                isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)
            ):
                raise ValueError(
                    f"CustomArchitecture: {part}_kwargs must be a dict with str "
                    f"keys or None, got {kwargs!r}."
                )

    def build(self, n_features, n_components, n_outputs, image_shape):
        self.check_params(image_shape, n_features)
        built = []
        for part, sizes in (
            ("encoder", {"n_features": n_features, "n_components": n_components}),
            ("decoder", {"n_components": n_components, "n_outputs": n_outputs}),
        ):
            factory = getattr(self, part)
            try:
                module = factory(**sizes, **(getattr(self, f"{part}_kwargs") or {}))
            except TypeError as exc:
                raise ValueError(
                    f"CustomArchitecture: building the {part} {_qualname(factory)} "
                    f"with {sorted(sizes)} and {part}_kwargs failed ({exc}); see the "
                    "module contract in the CustomArchitecture docs."
                ) from None
            if not isinstance(module, nn.Module):
                raise ValueError(
                    f"CustomArchitecture: the {part} {_qualname(factory)} returned "
                    f"{type(module).__name__}, not a torch.nn.Module."
                )
            built.append(module)
        return tuple(built)


#: the architectures named by a string
ARCHITECTURES = {"mlp": None, "conv": ConvArchitecture}


def make_architecture(architecture):
    """The architecture object of a parameter value: None for ``"mlp"``
    (the network of ``hidden_layer_sizes``), ``ConvArchitecture()`` for
    ``"conv"``, the object itself otherwise."""
    if isinstance(architecture, str):
        cls = ARCHITECTURES[architecture]
        return None if cls is None else cls()
    return architecture


_INIT_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


def reset_parameters(module, generator=None):
    """Initialise every layer of ``module`` as torch does, from ``generator``.

    Linear and (transposed) convolution layers get torch's default
    initialisation drawn from ``generator``; other submodules with a
    ``reset_parameters`` method are reset by it (given the generator when it
    takes one); parameters and float buffers of no such submodule are set
    to zero.
    """
    done = set()
    for layer in module.modules():
        if isinstance(layer, _INIT_TYPES):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif layer is not module and callable(getattr(layer, "reset_parameters", None)):
            reset = layer.reset_parameters
            if "generator" in inspect.signature(reset).parameters:
                reset(generator=generator)
            else:
                reset()
        else:
            continue
        done.update(id(p) for p in layer.parameters())
        done.update(id(b) for b in layer.buffers())
    with torch.no_grad():
        for p in itertools.chain(module.parameters(), module.buffers()):
            if id(p) not in done and p.is_floating_point():
                p.zero_()


def probe(encoder, decoder, n_features, n_components, n_outputs):
    """Check on a batch of two rows that the modules meet the contract;
    a ValueError naming the mismatch otherwise."""
    dtype = next(itertools.chain(encoder.parameters(), [torch.zeros(())])).dtype
    x = torch.zeros(2, n_features, dtype=dtype)
    for part, net, inp, want in (
        ("encoder", encoder, x, (2, 2 * n_components)),
        ("decoder", decoder, torch.zeros(2, n_components, dtype=dtype), (2, n_outputs)),
    ):
        try:
            with torch.no_grad():
                out = net(inp)
        except Exception as exc:  # the user's code: report whatever it raised
            raise ValueError(
                f"CustomArchitecture: the {part} failed on a probe batch of shape "
                f"{tuple(inp.shape)} ({type(exc).__name__}: {exc})."
            ) from None
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
            got = (
                tuple(out.shape)
                if isinstance(out, torch.Tensor)
                else type(out).__name__
            )
            raise ValueError(
                f"CustomArchitecture: the {part} maps a batch of shape "
                f"{tuple(inp.shape)} to {got}, expected {want} (see the module "
                "contract: encoder (n, n_features) -> (n, 2 * n_components), "
                "decoder (n, n_components) -> (n, n_outputs))."
            )
