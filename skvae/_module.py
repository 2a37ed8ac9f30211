"""The variational autoencoder as a plain PyTorch module.

Tensors in, tensors out: no NumPy, no scikit-learn, no choice of device and no
seeding of any random number generator. The estimator builds the module and
places it.
"""

import itertools
import math

import torch
from torch import nn

__all__ = ["VAEModule", "ACTIVATIONS"]

#: activation names, as in scikit-learn's MLP
ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


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
    device, dtype : optional
        Where and how to allocate the parameters, as for ``nn.Linear``.

    Examples
    --------
    >>> import torch
    >>> from skvae._module import VAEModule
    >>> module = VAEModule(64, 2, 64, hidden_layer_sizes=(32,))
    >>> loc, log_scale = module.encode(torch.zeros(5, 64))
    >>> loc.shape, module.decode(loc).shape
    (torch.Size([5, 2]), torch.Size([5, 64]))
    """

    def __init__(
        self,
        n_features,
        n_components,
        n_outputs,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        device=None,
        dtype=None,
    ):
        super().__init__()
        hidden = tuple(hidden_layer_sizes)
        self.n_components = n_components
        self.encoder = _mlp(
            (n_features, *hidden, 2 * n_components), activation, device, dtype
        )
        self.decoder = _mlp(
            (n_components, *hidden[::-1], n_outputs), activation, device, dtype
        )

    def reset_parameters(self, generator=None):
        """Initialise every linear layer as ``nn.Linear`` does, from ``generator``.

        Parameters
        ----------
        generator : torch.Generator, optional
            Source of randomness; the global generator when None.
        """
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(
                    layer.weight, a=math.sqrt(5), generator=generator
                )
                bound = 1 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def encode(self, x):
        """Parameters of q(z | x): the mean and the log standard deviation."""
        loc, log_scale = self.encoder(x).chunk(2, dim=-1)
        return loc, log_scale

    def decode(self, z):
        """Raw likelihood parameters of p(x | z)."""
        return self.decoder(z)

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
