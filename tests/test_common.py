"""scikit-learn's own estimator checks: the compatibility contract."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAETransformer


@parametrize_with_checks(
    [VAETransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
