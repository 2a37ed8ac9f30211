"""Mixed-type tables: synthetic-data utility against ctgan's TVAE, and imputation.

ML efficacy ("train on synthetic, test on real"): each table is split 70/30
(stratified on the label, ``random_state=seed``). A generator is fitted on the
training rows (label included, as one more categorical column) and samples as
many rows; a classifier (one-hot categoricals + scaled numerics, then a
``RandomForestClassifier(n_estimators=200)``) is trained on the synthetic rows
and scored by macro-F1 on the real held-out rows, next to the same classifier
trained on the real training rows. Generators, with the same number of epochs
and batch size:

* ``skvae``: ``VAETransformer(n_components=16, hidden_layer_sizes=(128, 128),
  batch_size=500)`` fitted on the DataFrame (Gaussian per standardized
  numeric column, categorical per categorical column); ``sample`` returns the
  decoder's means (most probable category); ``skvae_draws`` scores the same
  fitted model's ``sample(decoder_noise=True)``, draws from p(x | z);
* ``tvae``: ``ctgan.TVAE`` (its defaults: 128-dimensional latent, (128, 128)
  layers, mode-specific normalisation, batch 500).

Tables (none downloaded): ``fair`` and ``anes96`` from statsmodels' bundled
datasets, typed as integers and categories (see ``load_tables``); scikit-learn's
``breast_cancer`` and ``wine`` with their class as a categorical column.

Imputation: scikit-learn's ``diabetes``, ``breast_cancer`` and ``wine``
(features only), standardized, 20% of the entries hidden completely at random;
RMSE over the hidden entries of ``VAEImputer`` (its defaults),
``IterativeImputer`` (``max_iter=20``) and ``KNNImputer`` (defaults), and the
column mean (RMSE about 1 by construction).

Every score is the median over ``--seeds`` seeds (0, 1, ...): the seed sets
the train/test split, the hidden entries and every model's random state.
Times are medians too, in seconds, fit plus sample (or fit plus transform).

Needs ``ctgan`` and ``statsmodels`` (``pip install ctgan statsmodels``; with
``--no-deps --target DIR`` and ``PYTHONPATH=DIR`` to keep torch as it is).
Run from the repository root::

    python benchmarks/bench_tabular.py                    # 100 epochs, 3 seeds
    python benchmarks/bench_tabular.py --epochs 5 --seeds 1   # smoke run
"""

import argparse
import time
import warnings
from functools import partial

import numpy as np
import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skvae import VAEImputer, VAETransformer


def load_tables():
    """name -> (DataFrame with a categorical ``label`` column)."""
    import statsmodels.datasets as smd

    tables = {}
    fair = smd.fair.load_pandas().data
    fair = pd.DataFrame(
        {
            "rate_marriage": fair["rate_marriage"].astype(int),
            "age": fair["age"],
            "yrs_married": fair["yrs_married"],
            "children": fair["children"],
            "religious": fair["religious"].astype(int),
            "educ": fair["educ"].astype(int),
            "occupation": fair["occupation"].astype(int).astype(str).astype("category"),
            "occupation_husb": fair["occupation_husb"]
            .astype(int)
            .astype(str)
            .astype("category"),
            "label": pd.Categorical(np.where(fair["affairs"] > 0, "yes", "no")),
        }
    )
    tables["fair"] = fair
    anes = smd.anes96.load_pandas().data
    anes = pd.DataFrame(
        {
            "popul": anes["popul"],
            "TVnews": anes["TVnews"].astype(int),
            "selfLR": anes["selfLR"].astype(int),
            "ClinLR": anes["ClinLR"].astype(int),
            "DoleLR": anes["DoleLR"].astype(int),
            "PID": anes["PID"].astype(int).astype(str).astype("category"),
            "age": anes["age"].astype(int),
            "educ": anes["educ"].astype(int).astype(str).astype("category"),
            "income": anes["income"].astype(int),
            "label": pd.Categorical(np.where(anes["vote"] > 0, "dole", "clinton")),
        }
    )
    tables["anes96"] = anes
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
        data = loader(as_frame=True)
        frame = data.frame.drop(columns="target")
        frame["label"] = pd.Categorical(
            np.asarray(data.target_names)[data.target].astype(str)
        )
        tables[name] = frame
    return tables


def classifier():
    pre = make_column_transformer(
        (
            OneHotEncoder(handle_unknown="ignore"),
            make_column_selector(dtype_include="category"),
        ),
        (StandardScaler(), make_column_selector(dtype_include="number")),
    )
    return make_pipeline(pre, RandomForestClassifier(n_estimators=200, random_state=0))


def efficacy(train, test, synthetic):
    X_syn, y_syn = synthetic.drop(columns="label"), synthetic["label"].astype(str)
    if y_syn.nunique() < 2:
        return 0.0
    model = classifier().fit(X_syn, y_syn)
    pred = model.predict(test.drop(columns="label"))
    return f1_score(test["label"].astype(str), pred, average="macro")


def fit_sample_skvae(train, epochs, seed, decoder_noise=False):
    vae = VAETransformer(
        16,
        hidden_layer_sizes=(128, 128),
        batch_size=500,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        numeric_scaling="standard",  # as measured (the default then)
        device="cpu",
        random_state=seed,
    )
    vae.fit(train)
    return vae.sample(len(train), random_state=seed, decoder_noise=decoder_noise)


def fit_sample_tvae(train, epochs, seed):
    import torch
    from ctgan import TVAE

    torch.manual_seed(seed)  # TVAE draws from the global generator
    frame, discrete = tvae_input(train)
    tvae = TVAE(epochs=epochs, batch_size=500, cuda=False)
    tvae.fit(frame, discrete_columns=discrete)
    return tvae_output(tvae.sample(len(train)), train, discrete)


def tvae_input(train):
    """The table as TVAE takes it (categories as strings) and its discrete
    columns."""
    discrete = [
        c for c in train.columns if isinstance(train[c].dtype, pd.CategoricalDtype)
    ]
    frame = train.copy()
    for c in discrete:
        frame[c] = frame[c].astype(str)
    return frame, discrete


def tvae_output(out, train, discrete):
    """TVAE's rows with the training table's categories back."""
    for c in discrete:
        out[c] = pd.Categorical(out[c].astype(str), categories=train[c].cat.categories)
    return out


def bench_efficacy(epochs, seeds):
    rows = []
    for name, table in load_tables().items():
        runs = []
        for seed in range(seeds):
            train, test = train_test_split(
                table, test_size=0.3, stratify=table["label"], random_state=seed
            )
            train = train.reset_index(drop=True)
            run = {"real": efficacy(train, test, train)}
            generators = (
                ("skvae", fit_sample_skvae),
                ("skvae_draws", partial(fit_sample_skvae, decoder_noise=True)),
                ("tvae", fit_sample_tvae),
            )
            for gen, fn in generators:
                start = time.perf_counter()
                synthetic = fn(train, epochs, seed)
                run[f"{gen}_s"] = time.perf_counter() - start
                run[gen] = efficacy(train, test, synthetic)
            print(name, seed, {k: round(v, 3) for k, v in run.items()}, flush=True)
            runs.append(run)
        rows.append({"table": name, "rows": len(table), **_medians(runs)})
    return pd.DataFrame(rows)


def _medians(runs):
    return {key: float(np.median([run[key] for run in runs])) for key in runs[0]}


def bench_imputation(seeds):
    rows = []
    for name, loader in (
        ("diabetes", load_diabetes),
        ("breast_cancer", load_breast_cancer),
        ("wine", load_wine),
    ):
        X = loader().data
        X = (X - X.mean(0)) / X.std(0)
        runs = []
        for seed in range(seeds):
            rng = np.random.RandomState(seed)
            hidden = rng.rand(*X.shape) < 0.2
            X_missing = np.where(hidden, np.nan, X)
            imputers = {
                "skvae": VAEImputer(device="cpu", random_state=seed),
                "iterative": IterativeImputer(random_state=seed, max_iter=20),
                "knn": KNNImputer(),
                "mean": SimpleImputer(),
            }
            run = {}
            for key, imputer in imputers.items():
                start = time.perf_counter()
                filled = imputer.fit_transform(X_missing)
                run[f"{key}_s"] = time.perf_counter() - start
                run[key] = float(np.sqrt(np.mean((filled - X)[hidden] ** 2)))
            print(name, seed, {k: round(v, 3) for k, v in run.items()}, flush=True)
            runs.append(run)
        rows.append({"table": name, "shape": X.shape, **_medians(runs)})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", choices=["efficacy", "imputation"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 200)
    if args.only != "imputation":
        print(bench_efficacy(args.epochs, args.seeds).round(3).to_string())
    if args.only != "efficacy":
        print(bench_imputation(args.seeds).round(3).to_string())


if __name__ == "__main__":
    main()
