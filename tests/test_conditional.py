"""ConditionalVAE: samples of chosen classes, style transfer, y's kinds and errors."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skvae
from skvae import ConditionalVAE, VAETransformer

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConditionalVAE(
            n_components=4,
            hidden_layer_sizes=(128,),
            likelihood="bernoulli",
            learning_rate_init=3e-3,
            max_iter=20,
            random_state=0,
            device="cpu",
        ).fit(X, y)


@pytest.fixture(scope="module")
def classifier(digits):
    return LogisticRegression(max_iter=2000).fit(*digits)


def weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------- what it does


def test_samples_are_of_the_class_asked_for(fitted, classifier):
    classes = np.arange(10)
    S = fitted.sample(30, y=classes, random_state=0)
    assert S.shape == (300, 64)
    accuracy = np.mean(classifier.predict(S) == np.repeat(classes, 30))
    assert accuracy > 0.9


def test_style_transfer_changes_the_class(fitted, classifier, digits):
    X, y = digits
    target = (y[:60] + 3) % 10
    S = fitted.sample(X=X[:60], y=target, random_state=0)
    assert S.shape == (60, 64)
    assert np.mean(classifier.predict(S) == target) > 0.9
    # one class for every row, and several draws per row, row by row
    S2 = fitted.sample(2, X=X[:3], y=5, random_state=0)
    assert S2.shape == (6, 64)
    decoded = fitted.inverse_transform(fitted.transform(X[:3]), y=[5, 5, 5])
    assert decoded.shape == (3, 64)


def test_transform_needs_no_y_and_works_in_a_pipeline(fitted, digits):
    X, y = digits
    Z = fitted.transform(X[:10])
    assert Z.shape == (10, 4)
    step = clone(fitted).set_params(max_iter=1, likelihood="gaussian")
    pipe = make_pipeline(StandardScaler(), step)
    pipe.fit(X, y)  # the pipeline passes y to the last step's fit
    assert pipe.transform(X[:5]).shape == (5, 4)
    assert list(fitted.get_feature_names_out()) == [
        f"conditionalvae{i}" for i in range(4)
    ]


def test_sample_without_y_draws_classes_from_the_prior(fitted):
    assert fitted.sample(7, random_state=0).shape == (7, 64)
    np.testing.assert_allclose(fitted.class_prior_.sum(), 1.0)


def test_reproducible_and_inputs_unchanged(fitted, digits):
    X, y = digits
    X_copy, y_copy = X.copy(), y.copy()
    a = fitted.sample(3, y=[1, 2], random_state=5)
    b = fitted.sample(3, y=[1, 2], random_state=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        fitted.score_samples(X[:5], y[:5]), fitted.score_samples(X[:5], y[:5])
    )
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    est = ConditionalVAE(**TINY).fit(X[:100], y[:100])
    again = ConditionalVAE(**TINY).fit(X[:100], y[:100])
    assert same_weights(weights(est), weights(again))


def test_score_samples_with_and_without_y(fitted, digits):
    X, y = digits
    given = fitted.score_samples(X[:20], y[:20])
    marginal = fitted.score_samples(X[:20])
    assert given.shape == marginal.shape == (20,)
    # log sum_c p(c) p(x | c) >= log p(y) + log p(x | y)
    assert np.all(marginal >= given + np.log(fitted.class_prior_[y[:20]]) - 1e-9)
    tight = fitted.score_samples(X[:20], y[:20], n_importance=20)
    assert tight.mean() > given.mean() - 1.0
    assert isinstance(fitted.score(X[:20], y[:20]), float)
    # the right class explains a digit better than a wrong one, mostly
    wrong = fitted.score_samples(X[:50], (y[:50] + 1) % 10)
    assert np.mean(fitted.score_samples(X[:50], y[:50]) > wrong) > 0.8


def test_string_labels_and_continuous_targets(digits):
    X, y = digits
    names = np.array(["zero", "one", "two"])[y[:90] % 3]
    est = ConditionalVAE(**TINY).fit(X[:90], names)
    assert est.classes_.tolist() == ["one", "two", "zero"]
    assert est.sample(2, y="two", random_state=0).shape == (2, 64)
    targets = np.random.RandomState(0).normal(size=(90, 2))
    cont = ConditionalVAE(**TINY).fit(X[:90], targets)
    assert cont.n_conditions_ == 2 and not hasattr(cont, "classes_")
    assert cont.sample(3, y=[0.5, -1.0], random_state=0).shape == (3, 64)
    assert cont.sample(1, y=targets[:4], random_state=0).shape == (4, 64)
    one = ConditionalVAE(**TINY).fit(X[:90], targets[:, 0])
    assert one.sample(2, y=[0.1, 0.2, 0.3]).shape == (6, 64)
    # integers meant as numbers
    ints = ConditionalVAE(**TINY, target="continuous").fit(X[:90], y[:90])
    assert ints.n_conditions_ == 1 and ints.y_mean_.shape == (1,)


def test_encode_condition_is_what_the_decoder_reads(digits):
    """One-hot rows in the order of classes_, or standardised targets: the
    decoder given them is inverse_transform given y (the ONNX graphs'
    ``condition`` input)."""
    X, y = digits
    names = np.array(["zero", "one", "two"])[y[:90] % 3]
    est = ConditionalVAE(2, **TINY).fit(X[:90], names)
    labels = np.array(["two", "one", "two"])
    before = labels.copy()
    condition = est.encode_condition(labels)
    np.testing.assert_array_equal(condition, [[0, 1, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(labels, before)
    assert condition.dtype == np.float64
    np.testing.assert_array_equal(est.encode_condition("zero"), [[0, 0, 1]])
    Z = est.transform(X[:3])
    np.testing.assert_array_equal(
        est._decode_given(Z, condition), est.inverse_transform(Z, labels)
    )
    targets = np.random.RandomState(0).normal(3.0, 2.0, size=(90, 2))
    cont = ConditionalVAE(**TINY).fit(X[:90], targets)
    np.testing.assert_allclose(
        cont.encode_condition(targets[:5]),
        (targets[:5] - targets.mean(0)) / targets.std(0),
        rtol=1e-12,
    )
    assert cont.encode_condition([0.5, -1.0]).shape == (1, 2)  # one target
    with pytest.raises(ValueError, match="labels not seen in fit"):
        est.encode_condition(["three"])
    with pytest.raises(ValueError, match="fitted on 2 target column"):
        cont.encode_condition(np.zeros((4, 3)))
    with pytest.raises(NotFittedError):
        ConditionalVAE().encode_condition([0])


def test_tables_mixed_types(digits):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=80),
            "b": pd.Categorical(rng.choice(["x", "y"], 80)),
            "c": rng.randint(0, 5, 80),
        }
    )
    frame.loc[::7, "a"] = np.nan
    label = rng.randint(0, 2, 80)
    est = ConditionalVAE(2, **TINY, missing="mask").fit(frame, label)
    out = est.sample(4, y=1, random_state=0, decoder_noise=True)
    assert list(out.columns) == ["a", "b", "c"] and len(out) == 4
    assert est.transform(frame).shape == (80, 2)


def test_partial_fit_and_warm_start(digits):
    X, y = digits
    est = ConditionalVAE(**TINY)
    est.partial_fit(X[:50], y[:50] % 2, classes=[0, 1, 2])
    assert est.classes_.tolist() == [0, 1, 2]
    est.partial_fit(X[50:100], y[50:100] % 3)
    assert est.n_iter_ == 2
    warm = ConditionalVAE(**TINY, warm_start=True).fit(X[:50], y[:50] % 2)
    warm.fit(X[50:100], y[50:100] % 2)
    assert warm.n_iter_ == 4


def test_save_and_load(digits, tmp_path):
    X, y = digits
    for target in (np.array(["a", "b"])[y[:60] % 2], y[:60] * 0.5):
        est = ConditionalVAE(**TINY).fit(X[:60], target)
        est.save(tmp_path / "c.safetensors")
        loaded = skvae.load(tmp_path / "c.safetensors")
        assert type(loaded) is ConditionalVAE
        np.testing.assert_array_equal(loaded.transform(X[:5]), est.transform(X[:5]))
        np.testing.assert_array_equal(
            loaded.score_samples(X[:5], target[:5]),
            est.score_samples(X[:5], target[:5]),
        )
        np.testing.assert_array_equal(
            loaded.sample(3, y=target[:2], random_state=1),
            est.sample(3, y=target[:2], random_state=1),
        )
        for name in ("classes_", "class_prior_", "y_mean_", "y_scale_"):
            assert hasattr(loaded, name) == hasattr(est, name)


def test_hostile_files_are_refused(digits, tmp_path):
    from test_hostile_files import attribute, load_error, rewrite

    X, y = digits
    path = tmp_path / "c.safetensors"
    ConditionalVAE(**TINY).fit(X[:60], y[:60] % 3).save(path)
    _encode = skvae._persistence._encode

    def both(doc):
        doc["attributes"]["y_mean_"] = _encode(np.zeros(3), "y_mean_")

    cases = {
        "unsorted": attribute("classes_", _encode(np.array([2, 1, 0]), "c")),
        "width": attribute("classes_", _encode(np.array([0, 1]), "c")),
        "both": both,
        "n_conditions_": attribute("n_conditions_", 4),
    }
    for name, change in cases.items():
        message = load_error(
            rewrite(path, tmp_path / f"{name}.safetensors", doc=change)
        )
        assert "Cannot load" in message, name

    def neither(doc):
        for key in ("classes_", "class_prior_"):
            del doc["attributes"][key]

    message = load_error(rewrite(path, tmp_path / "neither.safetensors", doc=neither))
    assert "classes_" in message


# ------------------------------------------------------------------- errors


def test_errors_name_the_problem(fitted, digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"labels not seen in fit \(11\)"):
        fitted.sample(2, y=11)
    with pytest.raises(ValueError, match="labels not seen in fit"):
        fitted.score_samples(X[:3], ["a", "b", "c"])
    with pytest.raises(ValueError, match="pass y"):
        fitted.inverse_transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="pass y"):
        fitted.sample(2, X=X[:3])
    with pytest.raises(ValueError, match="one target or one per row"):
        fitted.sample(X=X[:3], y=[1, 2])
    with pytest.raises(ValueError, match="requires y"):
        ConditionalVAE(**TINY).fit(X)
    with pytest.raises(ValueError, match="one target per row"):
        ConditionalVAE(**TINY).fit(X[:10], y[:9])
    with pytest.raises(ValueError, match="multilabel"):
        ConditionalVAE(**TINY).fit(X[:10], np.eye(2, dtype=int)[y[:10] % 2])
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        ConditionalVAE(**TINY).fit(X[:10], np.stack([y[:10], y[:10] % 3], 1))
    with pytest.raises(ValueError, match="shape \\(n_samples,\\)"):
        ConditionalVAE(**TINY, target="classes").fit(
            X[:10], np.stack([y[:10], y[:10]], 1)
        )
    with pytest.raises(ValueError, match="numeric y"):
        ConditionalVAE(**TINY, target="continuous").fit(X[:10], ["a"] * 10)
    cont = ConditionalVAE(**TINY).fit(X[:30], np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="continuous targets; sample needs y"):
        cont.sample(2)
    with pytest.raises(ValueError, match="score_samples needs y"):
        cont.score_samples(X[:2])


def test_a_refused_call_changes_nothing(digits):
    X, y = digits
    est = ConditionalVAE(**TINY, warm_start=True).fit(X[:60], y[:60] % 3)
    before, state = weights(est), dict(vars(est))
    with pytest.raises(ValueError, match=r"labels not seen in fit \(7\)"):
        est.fit(X[:60], np.where(y[:60] % 3 == 0, 7, y[:60] % 3))
    assert same_weights(before, weights(est))
    assert vars(est).keys() == state.keys() and est.n_iter_ == state["n_iter_"]
    assert est.classes_ is state["classes_"]
    fresh = ConditionalVAE(**TINY, architecture="conv", image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="architecture must be 'mlp'"):
        fresh.fit(X[:20], y[:20])
    assert not hasattr(fresh, "module_") and not hasattr(fresh, "classes_")


def test_vae_transformer_still_ignores_y_in_a_pipeline(digits):
    X, y = digits
    alone = VAETransformer(**TINY).fit(X[:100])
    pipe = make_pipeline(VAETransformer(**TINY)).fit(X[:100], y[:100])
    np.testing.assert_array_equal(alone.transform(X[:10]), pipe.transform(X[:10]))
    assert "n_conditions" not in alone.module_.spec
    assert alone.module_.n_conditions == 0


def test_module_decode_checks_the_condition():
    from skvae._module import VAEModule

    module = VAEModule(4, 2, 8, hidden_layer_sizes=(5,), n_conditions=3)
    z, c = torch.zeros(6, 2), torch.zeros(6, 3)
    assert module.decode(z, c).shape == (6, 8)
    assert VAEModule(**module.spec).spec == module.spec
    with pytest.raises(ValueError, match="condition"):
        module.decode(z)
    x, cond = module.split(torch.zeros(6, 7))
    assert x.shape == (6, 4) and cond.shape == (6, 3)
    order = torch.tensor([1, 0])
    before = module.decoder[0].weight[:, 2:].clone()
    module.permute_components(order)
    assert torch.equal(module.decoder[0].weight[:, 2:], before)
