"""The variational autoencoder as a plain PyTorch module.

Tensors in, tensors out: no NumPy, no scikit-learn, no choice of device and no
seeding of any random number generator. The estimator builds the module and
places it.
"""

import contextlib
import copy
import itertools
import math

import torch
from torch import nn

from ._architectures import ACTIVATIONS, reset_parameters

__all__ = ["VAEModule", "ACTIVATIONS"]


def _mlp(sizes, activation, device=None, dtype=None):
    """Linear layers of the given sizes, with ``activation`` between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out, device=device, dtype=dtype))
    return nn.Sequential(*layers)


class VAEModule(nn.Module):
    """Gaussian encoder q(z | x) and decoder to likelihood parameters.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_components : int
        Dimension of the latent space.
    n_outputs : int
        Number of raw decoder outputs (``likelihood.n_params(n_features)``).
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Sizes of the encoder's hidden layers; the decoder mirrors them.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Nonlinearity between layers.
    architecture : Architecture or None, default=None
        The network: None for the MLP of ``hidden_layer_sizes`` and
        ``activation``, else an architecture object (see
        :mod:`skvae._architectures`) that builds the encoder and decoder.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of the flattened images, for
        architectures that need it.
    n_shared : int, default=0
        How many of the ``n_outputs`` (the last ones) are free parameters
        shared by all rows (``likelihood.n_shared_params(n_features)``)
        rather than outputs of the decoder network.
    n_conditions : int, default=0
        Width of the condition the decoder also reads: p(x | z, c) with c
        (a one-hot class or standardised targets) appended to z at the
        decoder's input; the encoder q(z | x) does not see it. Training rows
        then carry c in their last ``n_conditions`` columns (see
        :meth:`split`). MLP only.
    device, dtype : optional
        Where and how to allocate the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    spec : dict
        The architecture's constructor arguments as plain data (all but
        ``device`` and ``dtype``): ``VAEModule(**module.spec)`` builds a
        module with the same parameter names and shapes.

    Examples
    --------
    >>> import torch
    >>> from skvae._module import VAEModule
    >>> module = VAEModule(64, 2, 64, hidden_layer_sizes=(32,))
    >>> loc, log_scale = module.encode(torch.zeros(5, 64))
    >>> loc.shape, module.decode(loc).shape
    (torch.Size([5, 2]), torch.Size([5, 64]))
    >>> VAEModule(**module.spec).spec == module.spec
    True
    """

    #: the default for modules pickled before conditioning existed
    n_conditions = 0

    def __init__(
        self,
        n_features,
        n_components,
        n_outputs,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        n_shared=0,
        device=None,
        dtype=None,
        architecture=None,
        image_shape=None,
        n_conditions=0,
    ):
        super().__init__()
        hidden = tuple(hidden_layer_sizes)
        # The constructor arguments as plain data: VAEModule(**spec) builds
        # this architecture again (the file format rebuilds modules from it).
        self.spec = {
            "n_features": int(n_features),
            "n_components": int(n_components),
            "n_outputs": int(n_outputs),
            "hidden_layer_sizes": tuple(int(h) for h in hidden),
            "activation": str(activation),
            "n_shared": int(n_shared),
        }
        self.n_components = n_components
        self.n_conditions = int(n_conditions)
        if self.n_conditions:  # only then recorded: other specs stay as files hold
            if architecture is not None:
                raise ValueError(
                    "a decoder conditioned on n_conditions > 0 columns is built "
                    "for the MLP only, not for an architecture object."
                )
            self.spec["n_conditions"] = self.n_conditions
        if architecture is not None:
            # only then recorded: the MLP's spec stays what files hold
            architecture = copy.deepcopy(architecture)  # the module's own record
            self.spec["architecture"] = architecture
            self.spec["image_shape"] = (
                None if image_shape is None else tuple(int(s) for s in image_shape)
            )
            place = contextlib.nullcontext() if device is None else torch.device(device)
            with place:
                self.encoder, self.decoder = architecture.build(
                    n_features, n_components, n_outputs - n_shared, image_shape
                )
            if dtype is not None:
                self.encoder.to(dtype)
                self.decoder.to(dtype)
        else:
            self._build_mlp(hidden, activation, n_outputs, n_shared, device, dtype)
        # Likelihood parameters that do not depend on z (say, a per-feature
        # scale) are learned once and appended to every decoder output.
        self.shared = (
            nn.Parameter(torch.zeros(n_shared, device=device, dtype=dtype))
            if n_shared
            else None
        )

    def _build_mlp(self, hidden, activation, n_outputs, n_shared, device, dtype):
        n_features, n_components = self.spec["n_features"], self.n_components
        self.encoder = _mlp(
            (n_features, *hidden, 2 * n_components), activation, device, dtype
        )
        self.decoder = _mlp(
            (n_components + self.n_conditions, *hidden[::-1], n_outputs - n_shared),
            activation,
            device,
            dtype,
        )

    def reset_parameters(self, generator=None):
        """Initialise every linear layer as ``nn.Linear`` does, from ``generator``.

        Parameters
        ----------
        generator : torch.Generator, optional
            Source of randomness; the global generator when None.
        """
        if "architecture" in self.spec:
            reset_parameters(self.encoder, generator)
            reset_parameters(self.decoder, generator)
        for layer in self.modules() if "architecture" not in self.spec else ():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(
                    layer.weight, a=math.sqrt(5), generator=generator
                )
                bound = 1 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        if self.shared is not None:
            nn.init.zeros_(self.shared)

    def encode(self, x):
        """Parameters of q(z | x): the mean and the log standard deviation."""
        loc, log_scale = self.encoder(x).chunk(2, dim=-1)
        return loc, log_scale

    def split(self, rows):
        """Training rows as ``(x, c)``: the data and the condition columns.

        Rows of a conditional module (``n_conditions > 0``) carry the
        condition in their last ``n_conditions`` columns; the others are
        returned as they are, with ``c`` None.
        """
        if not self.n_conditions:
            return rows, None
        return rows[..., : -self.n_conditions], rows[..., -self.n_conditions :]

    def decode(self, z, condition=None):
        """Raw likelihood parameters of p(x | z), or of p(x | z, c).

        ``condition`` (c, of shape ``(n_rows, n_conditions)``) is needed
        exactly when the module is conditional; it is appended to ``z``.
        """
        if (condition is None) != (not self.n_conditions):
            raise ValueError(
                f"this module's decoder reads {self.n_conditions} condition "
                f"columns; decode got {'none' if condition is None else 'some'}."
            )
        if condition is not None:
            z = torch.cat([z, condition.to(z.dtype).expand(*z.shape[:-1], -1)], -1)
        params = self.decoder(z)
        if self.shared is None:
            return params
        shared = self.shared.expand(*params.shape[:-1], -1)
        return torch.cat([params, shared], dim=-1)

    @property
    def can_permute(self):
        """Whether :meth:`permute_components` can reorder the latent dimensions:
        the encoder ends and the decoder starts with a linear layer of the
        latent width (always so for the MLP and the convolutional network)."""
        enc, dec, d = self.encoder, self.decoder, self.n_components
        return (
            isinstance(enc, nn.Sequential) and isinstance(dec, nn.Sequential)
            and len(enc) > 0 and len(dec) > 0
            and isinstance(enc[-1], nn.Linear) and enc[-1].out_features == 2 * d
            and enc[-1].bias is not None
            and isinstance(dec[0], nn.Linear)
            and dec[0].in_features == d + self.n_conditions
        )

    @torch.no_grad()
    def permute_components(self, order, optimizer=None):
        """Reorder the latent dimensions in place; the model stays the same.

        Latent dimension ``order[j]`` becomes dimension ``j``: the rows of the
        encoder's last layer that output its mean and its log-scale, and the
        column of the decoder's first layer that reads it, move together.
        The prior N(0, I) is symmetric under any permutation, so the ELBO,
        the decodings and the likelihood are unchanged; only the order of
        the columns of ``encode`` changes.

        Parameters
        ----------
        order : sequence of int or torch.Tensor of shape (n_components,)
            A permutation of ``range(n_components)``.
        optimizer : torch.optim.Optimizer, optional
            Optimizer over this module's parameters. Its per-element state
            (for Adam, the first and second moment estimates) is permuted
            along with the parameters, so that training continues exactly as
            it would have without the permutation.
        """
        d = self.n_components
        order = torch.as_tensor(order, dtype=torch.long).flatten()
        if not self.can_permute:
            if order.tolist() == list(range(d)):
                return  # nothing to move
            raise ValueError(
                "this module's encoder and decoder do not expose the latent "
                "layers as nn.Linear ends of nn.Sequential, so they cannot be permuted."
            )
        if sorted(order.tolist()) != list(range(d)):
            raise ValueError(
                f"order must be a permutation of range({d}), got {order.tolist()}."
            )
        last, first = self.encoder[-1], self.decoder[0]
        rows = torch.cat([order, order + d]).to(last.weight.device)
        # the condition's columns of the decoder's first layer stay in place
        cols = torch.cat([order, torch.arange(d, d + self.n_conditions)])
        cols = cols.to(first.weight.device)
        moves = [(last.weight, 0, rows), (last.bias, 0, rows), (first.weight, 1, cols)]
        for param, dim, index in moves:
            tensors = [param]
            if optimizer is not None:
                state = optimizer.state.get(param, {})
                tensors += [
                    value
                    for value in state.values()
                    if torch.is_tensor(value) and value.shape == param.shape
                ]
            for tensor in tensors:
                tensor.copy_(tensor.index_select(dim, index))

    @staticmethod
    def reparameterize(loc, log_scale, eps):
        """Latent draw ``z = loc + exp(log_scale) * eps``, differentiable in both."""
        return loc + torch.exp(log_scale) * eps

    def forward(self, x, *, generator=None):
        """Encode, draw one latent per row and decode.

        Returns
        -------
        params : torch.Tensor
            Raw decoder outputs.
        loc, log_scale : torch.Tensor
            Parameters of q(z | x).
        """
        loc, log_scale = self.encode(x)
        eps = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
        return self.decode(self.reparameterize(loc, log_scale, eps)), loc, log_scale
