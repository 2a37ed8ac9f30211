"""scikit-learn's own estimator checks: the compatibility contract."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import AutoencoderTransformer, ConditionalVAE, VAETransformer


@parametrize_with_checks(
    [
        Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")
        for Estimator in (VAETransformer, AutoencoderTransformer)
    ]
    + [
        VAETransformer(
            hidden_layer_sizes=(8,),
            max_iter=2,
            random_state=0,
            device="cpu",
            covariance="full",
        ),
        ConditionalVAE(
            hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu"
        ),
    ],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
