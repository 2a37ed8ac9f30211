"""skvae.quality_report: SDMetrics' scores of a synthetic table.

The scoring tests need SDMetrics (``pip install "skvae[report]"``) and skip
without it; ``.ci/run`` runs them in a venv of their own, since SDMetrics
needs pandas<3. The checks of the inputs, and the ImportError that names the
extra, run everywhere: every input is checked before SDMetrics is imported
and before any row is drawn.
"""

import os
import subprocess
import sys
from math import comb
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from skvae import SyntheticQuality, VAETransformer, quality_report

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)


def make_table(n, seed):
    """A small table of every kind of column: float, integer, boolean,
    categorical and object (strings)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    kind = np.where(x > 0.3, "a", np.where(x < -0.5, "b", "c"))
    return pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.5, size=n),
            "count": rng.poisson(3, size=n),
            "flag": rng.random(n) < 0.4,
            "kind": pd.Categorical(kind),
            "label": rng.choice(["u", "v"], size=n).astype(object),
        }
    )


@pytest.fixture(scope="module")
def train():
    return make_table(60, seed=0)


@pytest.fixture(scope="module")
def holdout():
    return make_table(40, seed=1)


@pytest.fixture(scope="module")
def vae(train):
    return VAETransformer(2, **TINY).fit(train)


@pytest.fixture
def sdmetrics():
    return pytest.importorskip(
        "sdmetrics", reason='needs the report extra: pip install "skvae[report]"'
    )


@pytest.fixture
def no_sampling(vae, monkeypatch):
    """Make any draw from ``vae`` fail the test: errors come before sampling."""

    def sample(*args, **kwargs):
        raise AssertionError("quality_report drew rows before checking its inputs")

    monkeypatch.setattr(vae, "sample", sample)


# ----------------------------------------------------------------- scoring


def test_scores_are_in_the_unit_interval(sdmetrics, vae, train):
    result = quality_report(vae, train, random_state=0)
    assert isinstance(result, SyntheticQuality)
    for name in ("score", "column_shapes", "column_pair_trends", "copy_share"):
        assert 0 <= getattr(result, name) <= 1, name
    assert result.n_real == result.n_synthetic == len(train)
    assert result.n_holdout is result.dcr_overfitting_protection is None
    assert result.closer_to_training is None
    assert result.score == pytest.approx(
        (result.column_shapes + result.column_pair_trends) / 2
    )

    shapes = result.column_shape_details
    assert {"Column", "Metric", "Score"} <= set(shapes.columns)
    assert "Table" not in shapes.columns
    assert list(shapes["Column"]) == list(train.columns)
    assert shapes["Score"].between(0, 1).all()

    pairs = result.column_pair_details
    assert {"Column 1", "Column 2", "Metric", "Score"} <= set(pairs.columns)
    assert len(pairs) == comb(train.shape[1], 2)
    assert pairs["Score"].dropna().between(0, 1).all()

    text = repr(result)
    assert "60 synthetic rows against 60 real rows" in text
    assert "not computed (no holdout)" in text
    summary = result.summary()
    assert summary["n_synthetic"] == 60
    assert summary["score"] == result.score
    assert np.isnan(summary["dcr_overfitting_protection"])


def test_metadata_follows_the_fitted_column_typing(sdmetrics, vae, train):
    result = quality_report(vae, train, random_state=0)
    columns = result.metadata["tables"]["table"]["columns"]
    assert {name: meta["sdtype"] for name, meta in columns.items()} == {
        "x": "numerical",
        "y": "numerical",
        "count": "numerical",  # integers are numbers, as the model treats them
        "flag": "boolean",
        "kind": "categorical",
        "label": "categorical",
    }
    metric = result.column_shape_details.set_index("Column")["Metric"]
    assert metric["count"] == "KSComplement"
    assert metric["kind"] == metric["flag"] == "TVComplement"


def test_the_training_rows_are_all_copies(sdmetrics, vae, train, holdout):
    result = quality_report(vae, train, synthetic=train, holdout=holdout)
    assert result.n_copies == len(train)
    assert result.copy_share == 1.0
    assert result.score > 0.99
    # every copy is at distance 0 from its training row
    assert result.closer_to_training == 1.0
    assert result.dcr_overfitting_protection == 0.0
    assert "100.0 %" in repr(result)


def test_a_holdout_enables_the_distance_to_closest_record(
    sdmetrics, vae, train, holdout
):
    result = quality_report(vae, train, holdout=holdout, random_state=0)
    assert 0 <= result.dcr_overfitting_protection <= 1
    assert 0 <= result.closer_to_training <= 1
    assert result.n_holdout == len(holdout)
    assert "held-out rows" in repr(result)
    assert result.summary()["closer_to_training"] == result.closer_to_training


def test_n_samples_and_random_state(sdmetrics, vae, train):
    first = quality_report(vae, train, n_samples=25, random_state=0)
    again = quality_report(vae, train, n_samples=25, random_state=0)
    assert first.n_synthetic == 25
    assert first.summary().equals(again.summary())
    # sample's own default: draws, for a model fitted on a DataFrame
    draws = quality_report(vae, train, n_samples=25, decoder_noise=True, random_state=0)
    assert first.summary().equals(draws.summary())
    means = quality_report(vae, train, n_samples=25, decoder_noise=False)
    assert 0 <= means.score <= 1


def test_columns_may_come_in_any_order(sdmetrics, vae, train, holdout):
    reordered = quality_report(
        vae,
        train[train.columns[::-1]],
        holdout=holdout[holdout.columns[::-1]],
        synthetic=train.sample(frac=1, random_state=0)[list(train.columns[1:]) + ["x"]],
    )
    assert reordered.n_copies == len(train)
    assert list(reordered.column_shape_details["Column"]) == list(train.columns)


def test_a_model_fitted_on_an_array_is_typed_by_the_dtypes(sdmetrics, train):
    numeric = train[["x", "y", "count"]]
    vae = VAETransformer(2, **TINY).fit(numeric.to_numpy())
    result = quality_report(vae, numeric, random_state=0)
    columns = result.metadata["tables"]["table"]["columns"]
    assert {meta["sdtype"] for meta in columns.values()} == {"numerical"}
    assert list(result.column_shape_details["Column"]) == ["x", "y", "count"]


def test_missing_values_are_scored(sdmetrics):
    table = make_table(60, seed=2)
    table["count"] = table["count"].astype("Int64")
    holes = np.random.default_rng(0).random(table.shape) < 0.1
    table = table.mask(holes)
    vae = VAETransformer(2, missing="mask", **TINY).fit(table)
    result = quality_report(vae, table, random_state=0)
    assert 0 <= result.score <= 1
    copies = quality_report(vae, table, synthetic=table)
    assert copies.n_copies == len(table)  # missing entries match missing ones


# ------------------------------------------------------------------ errors


def test_an_unfitted_estimator_is_refused(train):
    with pytest.raises(NotFittedError):
        quality_report(VAETransformer(2), train)


@pytest.mark.usefixtures("no_sampling")
@pytest.mark.parametrize("name", ["X", "holdout", "synthetic"])
def test_tables_must_be_dataframes(vae, train, name):
    kwargs = {"X": train, name: train.to_numpy()}
    with pytest.raises(TypeError, match=f"{name} must be a pandas DataFrame"):
        quality_report(vae, **kwargs)


@pytest.mark.usefixtures("no_sampling")
@pytest.mark.parametrize("name", ["X", "holdout", "synthetic"])
def test_tables_must_have_the_fitted_columns(vae, train, name):
    missing = {"X": train, name: train.drop(columns=["kind"])}
    with pytest.raises(ValueError, match=f"{name} lacks the fitted columns 'kind'"):
        quality_report(vae, **missing)
    extra = {"X": train, name: train.assign(other=1.0)}
    with pytest.raises(ValueError, match="has the columns 'other', unseen in fit"):
        quality_report(vae, **extra)
    both = {"X": train, name: train.rename(columns={"x": "z"})}
    with pytest.raises(ValueError, match=r"lacks .*'x' and has the columns 'z'"):
        quality_report(vae, **both)


@pytest.mark.usefixtures("no_sampling")
def test_repeated_columns_and_empty_tables_are_refused(vae, train):
    repeated = pd.concat([train, train[["x"]]], axis=1)
    with pytest.raises(ValueError, match="holdout has repeated columns: 'x'"):
        quality_report(vae, train, holdout=repeated)
    with pytest.raises(ValueError, match="holdout has no rows"):
        quality_report(vae, train, holdout=train.iloc[:0])


@pytest.mark.usefixtures("no_sampling")
@pytest.mark.parametrize("n_samples", [0, -3, 2.5, "10"])
def test_bad_n_samples_is_refused(vae, train, n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        quality_report(vae, train, n_samples=n_samples)


@pytest.mark.usefixtures("no_sampling")
def test_n_samples_with_synthetic_is_refused(vae, train):
    with pytest.raises(ValueError, match="n_samples=10 asks for rows to be drawn"):
        quality_report(vae, train, synthetic=train, n_samples=10)


@pytest.mark.usefixtures("no_sampling")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"decoder_noise": "yes"},
        {"random_state": "0"},
        {"numerical_match_tolerance": -1},
    ],
)
def test_bad_parameters_are_refused(vae, train, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        quality_report(vae, train, **kwargs)


def test_an_array_model_needs_string_columns_of_the_fitted_count(train):
    numeric = train[["x", "y"]].to_numpy()
    vae = VAETransformer(2, **TINY).fit(numeric)
    with pytest.raises(ValueError, match="names are not str, such as 0, 1"):
        quality_report(vae, pd.DataFrame(numeric))
    with pytest.raises(ValueError, match="X has 3 columns, but VAETransformer was "
                       "fitted on 2 features"):
        quality_report(vae, train[["x", "y", "count"]])


def test_an_estimator_without_sample_needs_synthetic_rows(train):
    scaler = StandardScaler().fit(train[["x", "y"]])
    with pytest.raises(TypeError, match="StandardScaler has no sample method"):
        quality_report(scaler, train[["x", "y"]])


# --------------------------------------------------------- without sdmetrics


@pytest.mark.usefixtures("no_sampling")
def test_without_sdmetrics_the_error_names_the_extra(vae, train, monkeypatch):
    """As on a machine without SDMetrics (a None entry in sys.modules makes
    an import fail), after every input is checked but before any row is
    drawn."""
    loaded = [name for name in sys.modules if name.partition(".")[0] == "sdmetrics"]
    for name in {"sdmetrics", "sdmetrics.reports", "sdmetrics.single_table", *loaded}:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "skvae\[report\]"'):
        quality_report(vae, train, random_state=0)
    with pytest.raises(ValueError, match="lacks the fitted columns"):
        quality_report(vae, train, holdout=train[["x"]])


def test_importing_skvae_does_not_import_sdmetrics():
    code = "import sys, skvae; assert 'sdmetrics' not in sys.modules, 'imported'"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
