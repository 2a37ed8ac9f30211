"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._autoencoder import AutoencoderTransformer
from ._estimator import VAETransformer
from ._likelihoods import BernoulliLikelihood, GaussianLikelihood, Likelihood
from ._module import VAEModule

__version__ = "0.1.0"

__all__ = [
    "VAETransformer",
    "AutoencoderTransformer",
    "VAEModule",
    "Likelihood",
    "GaussianLikelihood",
    "BernoulliLikelihood",
    "__version__",
]
