"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._architectures import Architecture, ConvArchitecture, CustomArchitecture
from ._autoencoder import AutoencoderTransformer
from ._conditional import ConditionalVAE
from ._estimator import VAETransformer
from ._export import to_onnx
from ._gaussian import FullCovarianceGaussianLikelihood, GaussianLikelihood
from ._imputer import VAEImputer
from ._likelihoods import BernoulliLikelihood, Likelihood
from ._mixed import CategoricalLikelihood, MixedLikelihood
from ._module import VAEModule
from ._oversampler import VAEOversampler
from ._persistence import load
from ._quality import SyntheticQuality, quality_report
from ._version import __version__

__all__ = [
    "VAETransformer",
    "VAEImputer",
    "ConditionalVAE",
    "VAEOversampler",
    "AutoencoderTransformer",
    "VAEModule",
    "Architecture",
    "ConvArchitecture",
    "CustomArchitecture",
    "Likelihood",
    "GaussianLikelihood",
    "FullCovarianceGaussianLikelihood",
    "BernoulliLikelihood",
    "CategoricalLikelihood",
    "MixedLikelihood",
    "load",
    "to_onnx",
    "quality_report",
    "SyntheticQuality",
    "__version__",
]
