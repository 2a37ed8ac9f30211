"""Conditional fidelity on tables: ``sample(n, given=...)`` against reject sampling.

For each table the rows are split 70/30 (stratified on ``label``,
``random_state=seed``) and one ``VAETransformer(missing="mask")`` is fitted
on the training rows for about ``--steps`` steps of batches of 64 rows
(complete rows only: training never shows a row with
only the given column observed). Each condition fixes a categorical column
to one level, a common one and a rare one (``given=`` takes exact values, so
no numeric ranges). The free columns of ``n`` generated rows are compared
with the real held-out rows meeting the condition: the Kolmogorov-Smirnov
statistic per numeric column and the total variation distance per
categorical column (lower is better), averaged over the free columns of each
kind. Samplers, every one with ``decoder_noise=True`` (draws from p(x | z)):

* ``given``: ``vae.sample(n, given={column: level})``, skvae's importance
  resampling with the prior mixed into the proposal (the default);
* ``given_q``: the same with the encoder's q(z | given) alone as the
  proposal (``skvae._given._GIVEN_PRIOR_MIX = 0``, the earlier behaviour);
* ``reject``: unconditional ``vae.sample`` draws in batches of 2,000, keeping
  the rows that meet the condition until ``n`` are kept or 200,000 drawn
  (``accept`` is the acceptance rate, ``draws`` how many were drawn);
* ``sdv``: SDV's ``TVAESynthesizer`` (the same epochs and batch size), its
  ``sample_from_conditions``, when ``sdv`` imports (it is not a dependency);
* baselines: ``train``, the real training rows meeting the condition (the
  noise floor of the metric with this many held-out rows), and
  ``ignore``, ``n`` unconditional draws that ignore the condition.

Tables (none downloaded), built by ``bench_tabular.load_tables``: ``fair``
and ``anes96`` (statsmodels' bundled data; skipped when statsmodels is
missing), ``breast_cancer`` and ``wine``. Every number is the median over
``--seeds`` seeds; times are seconds for the ``n`` rows (``fit_s``: the fit).

Run from the repository root (statsmodels and sdv as in benchmarks/README.md)::

    python benchmarks/bench_given.py            # 3000 steps, 3 seeds, ~8.5 min
    python benchmarks/bench_given.py --quick    # 600 steps, 1 seed, no SDV
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.model_selection import train_test_split

import skvae._given
from skvae import VAETransformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tabular import load_tables  # noqa: E402

#: table -> (column, common level, rare level)
CONDITIONS = {
    "fair": ("occupation", "3", "1"),
    "anes96": ("PID", "0", "3"),
    "breast_cancer": ("label", "benign", "malignant"),
    "wine": ("label", "class_1", "class_2"),
}
_BATCH, _MAX_DRAWS = 2000, 200_000
_FIT_BATCH = 64


def tables():
    try:
        found = load_tables()
    except ImportError:  # statsmodels missing: the two scikit-learn tables
        import bench_tabular

        found = {}
        for name in ("breast_cancer", "wine"):
            loader = getattr(bench_tabular, f"load_{name}")
            data = loader(as_frame=True)
            frame = data.frame.drop(columns="target")
            names = np.asarray(data.target_names)[data.target].astype(str)
            frame["label"] = pd.Categorical(names)
            found[name] = frame
        print("statsmodels missing: fair and anes96 skipped", flush=True)
    return found


def distances(real, synthetic, column):
    """Mean KS over the free numeric columns, mean TV over the categorical."""
    ks, tv = [], []
    for c in real.columns:
        if c == column:
            continue
        if isinstance(real[c].dtype, pd.CategoricalDtype):
            p = real[c].astype(str).value_counts(normalize=True)
            q = synthetic[c].astype(str).value_counts(normalize=True)
            tv.append(0.5 * p.sub(q, fill_value=0.0).abs().sum())
        else:
            values = pd.to_numeric(synthetic[c], errors="coerce").astype(float)
            ks.append(ks_2samp(real[c].astype(float), values.dropna()).statistic)
    return (
        float(np.mean(ks)) if ks else np.nan,
        float(np.mean(tv)) if tv else np.nan,
    )


def epochs_for(train, steps):
    """Epochs of batches of ``_FIT_BATCH`` rows making about ``steps`` steps."""
    return max(1, round(steps / -(-len(train) // _FIT_BATCH)))


def fit_vae(train, epochs, seed):
    return VAETransformer(
        16,
        hidden_layer_sizes=(128, 128),
        batch_size=_FIT_BATCH,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        missing="mask",
        numeric_scaling="standard",  # as measured (the default then)
        device="cpu",
        random_state=seed,
    ).fit(train)


def reject(vae, n, column, level, seed):
    kept, drawn, batch = [], 0, 0
    while sum(map(len, kept)) < n and drawn < _MAX_DRAWS:
        out = vae.sample(_BATCH, random_state=seed * 1000 + batch, decoder_noise=True)
        kept.append(out[out[column].astype(str) == level])
        drawn += _BATCH
        batch += 1
    rows = pd.concat(kept, ignore_index=True)
    return rows.head(n), len(rows) / drawn, drawn


def fit_sdv(train, epochs, seed):
    import torch
    from sdv.metadata import Metadata
    from sdv.single_table import TVAESynthesizer

    train = train.copy()
    for c in train.columns:  # TVAE refuses the category dtype
        if isinstance(train[c].dtype, pd.CategoricalDtype):
            train[c] = train[c].astype(str).astype(object)
    metadata = Metadata.detect_from_dataframes({"table": train})
    synth = TVAESynthesizer(
        metadata, epochs=epochs, batch_size=_FIT_BATCH, enable_gpu=False
    )
    with torch.random.fork_rng():  # TVAE draws from the global generator
        torch.manual_seed(seed)
        synth.fit({"table": train})
    return synth


def sample_sdv(synth, n, column, level, seed):
    import torch
    from sdv.sampling import Condition

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        out = synth.sample_from_conditions(
            [Condition(num_rows=n, column_values={column: level})],
            max_tries_per_batch=100,
        )
    return out["table"] if isinstance(out, dict) else out  # sdv 2 gives a dict


def sample_given(vae, n, given, seed, mix):
    """``vae.sample(n, given=given)``; ``mix`` overrides the prior's share."""
    default = skvae._given._GIVEN_PRIOR_MIX
    try:
        if mix is not None:
            skvae._given._GIVEN_PRIOR_MIX = mix
        return vae.sample(n, given=given, random_state=seed, decoder_noise=True)
    finally:
        skvae._given._GIVEN_PRIOR_MIX = default


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def one_seed(name, table, seed, steps, n, use_sdv):
    column, common, rare = CONDITIONS[name]
    train, test = train_test_split(
        table, test_size=0.3, stratify=table["label"], random_state=seed
    )
    train = train.reset_index(drop=True)
    epochs = epochs_for(train, steps)
    vae, fit_s = timed(fit_vae, train, epochs, seed)
    synth, sdv_fit_s = timed(fit_sdv, train, epochs, seed) if use_sdv else (None, 0)
    unconditional = vae.sample(n, random_state=seed + 7, decoder_noise=True)
    results = []
    for which, level in (("common", common), ("rare", rare)):
        real = test[test[column].astype(str) == level]
        row = {"table": name, "condition": f"{column}={level} ({which})"}
        row["n_real"], row["share"] = len(real), float(np.mean(test[column] == level))
        row["epochs"], row["fit_s"] = epochs, fit_s
        if use_sdv:
            row["sdv_fit_s"] = sdv_fit_s
        given = {column: level}
        samples = {"train": train[train[column].astype(str) == level]}
        samples["ignore"] = unconditional
        for key, mix in (("given_q", 0.0), ("given", None)):
            samples[key], row[f"{key}_s"] = timed(
                sample_given, vae, n, given, seed, mix
            )
        (samples["reject"], row["accept"], row["draws"]), row["reject_s"] = timed(
            reject, vae, n, column, level, seed
        )
        if synth is not None:
            try:
                samples["sdv"], row["sdv_s"] = timed(
                    sample_sdv, synth, n, column, level, seed
                )
            except Exception as exc:  # SDV's reject sampling ran out of tries
                print(f"  sdv failed on {level}: {exc!s:.120}", flush=True)
                row["sdv_s"] = np.nan
        for key, rows in samples.items():
            ks, tv = distances(real, rows, column) if len(rows) else (np.nan,) * 2
            row[f"{key}_ks"], row[f"{key}_tv"] = ks, tv
        results.append(row)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="fit steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="rows per sampler")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-sdv", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds, args.no_sdv = 600, 1, True
    use_sdv = not args.no_sdv
    if use_sdv:
        try:
            import sdv

            print("sdv", sdv.__version__, flush=True)
        except ImportError:
            print("sdv not installed: its column is skipped", flush=True)
            use_sdv = False
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 50)
    runs = []
    for name, table in tables().items():
        for seed in range(args.seeds):
            for row in one_seed(name, table, seed, args.steps, args.n, use_sdv):
                row["seed"] = seed
                print(
                    {
                        k: v if isinstance(v, str) else round(v, 3)
                        for k, v in row.items()
                    },
                    flush=True,
                )
                runs.append(row)
    frame = pd.DataFrame(runs).drop(columns="seed")
    medians = frame.groupby(["table", "condition"], sort=False).median()
    for metric in ("ks", "tv"):
        cols = [c for c in medians.columns if c.endswith(f"_{metric}")]
        if medians[cols].notna().any().any():
            print(f"\nmedian {metric.upper()} over the free columns (lower is better)")
            print(medians[["n_real", "share", *cols]].round(3).to_string())
    times = ["epochs"] + [c for c in medians.columns if c.endswith("_s")]
    times += ["accept", "draws"]
    print("\nmedian seconds per sampler, reject sampling's acceptance and draws")
    print(medians[times].round(3).to_string())


if __name__ == "__main__":
    main()
