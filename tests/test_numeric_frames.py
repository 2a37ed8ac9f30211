"""DataFrames of numbers: one table behaviour whatever the dtypes (issue #18).

Under the default ``likelihood="gaussian"`` every DataFrame goes through the
table encoding (numeric columns scaled by ``numeric_scaling``) and comes back
from ``sample`` and ``inverse_transform`` as a DataFrame of its columns and
dtypes; another likelihood models a DataFrame of numbers as given, and arrays
are modelled as given, as before.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

import skvae
from skvae import VAETransformer

pd = pytest.importorskip("pandas")

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")


def _assert_frame_of(out, df, n):
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(df.columns)
    assert list(out.dtypes) == list(df.dtypes)
    assert out.index.equals(pd.RangeIndex(n))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "load",
    [
        lambda: load_wine(as_frame=True).frame,  # integer target included
        lambda: load_breast_cancer(as_frame=True).data,  # floats only
    ],
    ids=["wine frame", "breast cancer features"],
)
def test_unscaled_numeric_frames_train(load):
    # used to stop with "training loss was not finite in epoch 1 ... scale X"
    df = load()
    before = df.copy()
    vae = VAETransformer(**TINY).fit(df)
    assert np.isfinite(vae.loss_curve_).all()
    pd.testing.assert_frame_equal(df, before)  # the input is not modified
    _assert_frame_of(vae.sample(4, random_state=0), df, 4)
    rows = df.iloc[10:13]  # not a RangeIndex: inverse_transform makes a fresh one
    _assert_frame_of(vae.inverse_transform(vae.transform(rows)), df, 3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_prescaled_frame_round_trips_as_a_frame(tmp_path):
    rng = np.random.RandomState(0)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40).astype(np.float32),
            "label": rng.randint(0, 3, 40),
        }
    )
    vae = VAETransformer(**TINY).fit(df)
    sample = vae.sample(5, random_state=0)
    _assert_frame_of(sample, df, 5)
    assert set(sample["label"]) <= {0, 1, 2}  # integers rounded into range
    # the same rows given as an array: the same codes, with sklearn's warning
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        codes = vae.transform(df.to_numpy())
    np.testing.assert_array_equal(codes, vae.transform(df))
    vae.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    pd.testing.assert_frame_equal(loaded.sample(5, random_state=0), sample)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_set_output_still_names_the_latent_columns():
    df = load_wine(as_frame=True).data
    vae = VAETransformer(2, **TINY).set_output(transform="pandas").fit(df)
    codes = vae.transform(df)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == ["vaetransformer0", "vaetransformer1"]
    assert codes.index.equals(df.index)
    _assert_frame_of(vae.inverse_transform(codes.to_numpy()), df, len(df))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_other_likelihoods_and_arrays_are_modelled_as_given():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 4)
    df = pd.DataFrame(X, columns=list("abcd"))
    bernoulli = VAETransformer(likelihood="bernoulli", **TINY).fit(df)
    assert not hasattr(bernoulli, "tabular_")
    assert isinstance(bernoulli.sample(2, random_state=0), np.ndarray)
    on_array = VAETransformer(**TINY).fit(X)
    assert not hasattr(on_array, "tabular_")
    assert isinstance(on_array.sample(2, random_state=0), np.ndarray)
    # a mixed DataFrame under another likelihood is still refused, unchanged
    mixed = df.assign(c=pd.Categorical(rng.choice(["x", "y"], 30)))
    est = VAETransformer(likelihood="bernoulli", **TINY)
    with pytest.raises(ValueError, match="likelihood='gaussian'"):
        est.fit(mixed)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_frame_of_pixels_on_the_conv_network_is_modelled_as_given():
    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.rand(20, 64), columns=[f"px{j}" for j in range(64)])
    vae = VAETransformer(
        architecture="conv", image_shape=(1, 8, 8), max_iter=1, random_state=0
    ).fit(df)
    assert not hasattr(vae, "tabular_")
