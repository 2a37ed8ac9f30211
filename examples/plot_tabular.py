"""
=======================================================
Tables: mixed column types, synthetic data, imputation
=======================================================

Real tables mix numeric, integer, boolean and categorical columns and have
holes in them. :class:`~skvae.VAETransformer` takes such a pandas DataFrame
as it is: each column gets a likelihood that suits its type (Gaussian for
numbers, Bernoulli for booleans, categorical for categories), and ``sample``
and ``inverse_transform`` return a DataFrame with the same columns and
dtypes. With ``missing="mask"`` it also trains on incomplete rows, which is
what :class:`~skvae.VAEImputer` uses to fill missing entries. This example
generates a synthetic copy of a small medical table, checks how close it is
to the real one, and compares the imputer with scikit-learn's. Scoring
synthetic rows with SDMetrics' quality report and privacy checks
(:func:`~skvae.quality_report`) has an example of its own,
:ref:`sphx_glr_auto_examples_plot_synthetic_quality.py`.
"""

# %%
# A table with every kind of column
# ---------------------------------
# The diabetes data bundled with scikit-learn, in its original units: age,
# sex, body mass index (``bmi``), average blood pressure (``bp``), six blood
# serum measurements (``s1`` to ``s6``) and a measure of disease progression
# one year later, for 442 patients. Age, ``s1``, ``s6`` and the progression
# are whole numbers and are stored as integers; sex (coded 1 and 2 in the
# data) becomes a categorical column. Two derived columns complete the set
# of types: ``bmi_class``, the usual categories of the body mass index, and
# the boolean ``high_bp`` (``bp`` of 100 or more). The model sees them as
# columns of their own, so whether synthetic rows keep ``bmi_class``
# consistent with ``bmi`` is a test of what it has learned. 30 % of the rows
# are held out.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skvae import VAEImputer, VAETransformer

# The models train for a capped number of epochs to keep the example fast.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

table = load_diabetes(as_frame=True, scaled=False).frame
table = table.rename(columns={"target": "progression"})
integers = ["age", "s1", "s6", "progression"]
table[integers] = table[integers].astype("int64")
table["sex"] = pd.Categorical(table["sex"].astype("int64"))
bmi_classes = ["normal", "overweight", "obese"]


def bmi_class(bmi):
    return pd.cut(bmi, [0, 25, 30, np.inf], right=False, labels=bmi_classes)


table["bmi_class"] = bmi_class(table["bmi"])
table["high_bp"] = table["bp"] >= 100
train, test = train_test_split(table, test_size=0.3, random_state=0)
print(table.dtypes.to_string())

# %%
# Fit on the DataFrame
# --------------------
# Nothing to encode by hand. Numeric and integer columns are modelled by a
# Gaussian with a learned scale per column (here on the standardized scale,
# ``numeric_scaling="standard"``, to show below what the default
# quantile scaling of a DataFrame adds), the boolean by
# a Bernoulli and each categorical column by a categorical distribution over
# the categories seen in ``fit`` (one-hot inside the model). The table is
# small, so the networks are too. ``inverse_transform(transform(X))``
# reconstructs rows as a DataFrame: integers stay integers, categories stay
# among those seen in ``fit``.
vae = VAETransformer(
    4,
    hidden_layer_sizes=(64, 64),
    batch_size=64,
    learning_rate_init=3e-3,
    max_iter=300,
    numeric_scaling="standard",
    random_state=0,
)
vae.fit(train)
print(f"{vae.n_iter_} epochs, {vae.n_active_components_} of 4 components in use")
reconstructed = vae.inverse_transform(vae.transform(test.head(3)))
reconstructed.index = test.index[:3]
pd.concat({"held-out rows": test.head(3), "reconstructed": reconstructed}).round(2)

# %%
# Synthetic rows: decoder means or draws from p(x | z)
# ----------------------------------------------------
# ``sample(n, decoder_noise=False)`` draws latent points and returns the
# decoder's *means* there (for a model fitted on a DataFrame the points come
# from a Gaussian mixture fitted to the training rows' codes, where the
# decoder learned to decode; ``latent_density="prior"`` draws them from
# N(0, I)): for a categorical column the most probable
# category, for a number the mean of its Gaussian. Averaging removes the
# noise the model attributes to each column, so the means are less spread
# out than real data. ``sample(n, decoder_noise=True)`` completes the
# generative process and draws each row from p(x | z) as well: the numbers
# get the decoder's learned noise and the categories are drawn from their
# predicted probabilities; it is what ``sample(n)`` does by default for a
# model fitted on a DataFrame. Both return the table's dtypes.
means = vae.sample(2000, random_state=0, decoder_noise=False)
draws = vae.sample(2000, random_state=0, decoder_noise=True)
print("same dtypes:", all(rows.dtypes.equals(table.dtypes) for rows in (means, draws)))

numeric = train.select_dtypes("number").columns
spread = pd.DataFrame(
    {
        "real": train[numeric].std(),
        "decoder_noise=False": means[numeric].std(),
        "decoder_noise=True": draws[numeric].std(),
    }
)
print("standard deviation of each numeric column:")
print(spread.round(1).T.to_string())
for name, rows in [("means", means), ("draws", draws)]:
    agree = (rows["bmi_class"] == bmi_class(rows["bmi"])).mean()
    print(f"bmi_class agrees with bmi in {agree:.0%} of the synthetic rows ({name})")


def compare_histograms(ax, column, samples, bins=25):
    """Histogram of a real column with synthetic ones drawn over it."""
    edges = np.histogram_bin_edges(train[column], bins=bins)
    if pd.api.types.is_integer_dtype(train[column]):  # whole-number bins
        width = np.ceil(edges[1] - edges[0])
        edges = np.arange(edges[0] - 0.5, edges[-1] + width, width)
    ax.hist(train[column], bins=edges, density=True, color="0.8", label="real")
    for (label, rows), color in zip(samples.items(), ["C0", "C1"], strict=True):
        ax.hist(
            rows[column],
            bins=edges,
            density=True,
            histtype="step",
            linewidth=2,
            color=color,
            label=label,
        )
    ax.set_xlabel(column)
    ax.set_yticks([])


# %%
# The marginals of two numeric columns and of the categorical ``bmi_class``.
# The decoder means (blue) are concentrated around the middle of age,
# whose relation with the other columns is weak and which the means
# therefore mostly average away; the draws (orange) have the real spread.
# The proportions of a categorical column come out right either way here.
# ``bmi_class`` agrees with the synthetic ``bmi`` in most rows (printed
# above), more often for the means, whose ``bmi`` is not blurred by noise.
samples = {"decoder_noise=False": means, "sample(decoder_noise=True)": draws}
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
compare_histograms(axes[0], "age", samples)
compare_histograms(axes[1], "bmi", samples)
shares = pd.DataFrame(
    {
        label: rows["bmi_class"].value_counts(normalize=True)
        for label, rows in {"real": train, **samples}.items()
    }
).loc[bmi_classes]
shares.plot.bar(ax=axes[2], color=["0.8", "C0", "C1"], rot=0, legend=False)
axes[2].set_ylabel("share of rows")
axes[2].set_xlabel("bmi_class")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
fig.suptitle("real training rows against 2,000 synthetic rows")

# %%
# Lumpy and bounded columns: ``numeric_scaling="quantile"``
# ----------------------------------------------------------
# A Gaussian on the standardized scale suits bell-shaped columns. ``s4``
# (total over HDL cholesterol) is recorded mostly as whole numbers, so its
# histogram is a comb of spikes, and the progression is skewed and bounded
# below; integer columns are clipped into the range seen in ``fit``, so
# draws that spill over pile up at the bounds. ``numeric_scaling="quantile"``
# maps every numeric column through its empirical quantiles to a standard
# normal before the model sees it and maps decoded values back through the
# same quantiles: the draws then land on the observed values and stay in
# the observed range. The Kolmogorov-Smirnov distance between real and drawn
# values (0 for identical distributions) measures the effect on every
# numeric column.
vae_quantile = VAETransformer(
    4,
    hidden_layer_sizes=(64, 64),
    batch_size=64,
    learning_rate_init=3e-3,
    max_iter=300,
    numeric_scaling="quantile",
    random_state=0,
)
vae_quantile.fit(train)
draws_quantile = vae_quantile.sample(2000, random_state=0, decoder_noise=True)
ks = pd.DataFrame(
    {
        name: [ks_2samp(train[c], rows[c]).statistic for c in numeric]
        for name, rows in [("standard", draws), ("quantile", draws_quantile)]
    },
    index=numeric,
)
print("Kolmogorov-Smirnov distance, real against drawn rows:")
print(ks.round(3).T.to_string())

# %%
# With standard scaling the draws of ``s4`` smear the spikes into a smooth
# hump, and the progression's draws below its smallest value all land on
# it. With quantile scaling both histograms follow the real ones closely,
# and the distance to the real marginal is smaller for every numeric
# column. Quantile scaling changes only how each column is modelled on its
# own; it does not make the model learn more of the relations between
# columns.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
scaled = {"standard": draws, "quantile": draws_quantile}
compare_histograms(axes[0], "s4", scaled, bins=40)
compare_histograms(axes[1], "progression", scaled)
axes[0].legend(title="numeric_scaling (draws)", fontsize="small")

# %%
# Train on synthetic, test on real
# --------------------------------
# Do the synthetic rows keep the relations between the columns? Fit the
# same regression of the progression on all the other columns (ridge after
# one-hot encoding) once on the real training rows and once on as many
# synthetic rows, and score each on the real held-out rows (R², higher is
# better).
features = [c for c in table.columns if c != "progression"]


def regression():
    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["sex", "bmi_class"]),
            remainder=StandardScaler(),
        ),
        RidgeCV(),
    )


sources = {
    "real rows": train,
    "decoder_noise=False": vae.sample(len(train), random_state=1, decoder_noise=False),
    "decoder_noise=True": vae.sample(len(train), random_state=1, decoder_noise=True),
    "quantile,\ndecoder_noise=True": vae_quantile.sample(
        len(train), random_state=1, decoder_noise=True
    ),
}
r2 = {}
for name, rows in sources.items():
    model = regression().fit(rows[features], rows["progression"])
    r2[name] = model.score(test[features], test["progression"])
    print(
        f"trained on {name.replace(chr(10), ' ')!r:33}: R² on real rows {r2[name]:.3f}"
    )

# %%
# Rows drawn from p(x | z) train a regression that comes close to one
# trained on the real rows. The decoder means do much worse: they lie on
# the decoder's low-dimensional surface, without the variation of real rows
# around it, so the regression learns relations that are too clean. One
# split with 133 test rows is a small sample, so read differences of a few
# hundredths with caution.
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.barh(list(r2), list(r2.values()), color=["0.6", "C0", "C1", "C2"])
ax.invert_yaxis()
ax.set_xlabel("R² of the progression on real held-out rows")
ax.set_title("train on synthetic, test on real")

# %%
# Missing values: ``VAEImputer`` in a pipeline
# --------------------------------------------
# :class:`~skvae.VAEImputer` trains a ``VAETransformer(missing="mask")`` on
# incomplete rows: the reconstruction term skips the missing entries (the
# masked ELBO, here inside an importance-weighted bound over 10 draws per
# row) and the encoder also sees which entries are missing. Its numeric
# columns share one learned full noise covariance (``covariance="auto"``
# gives one to tables of up to 64 numeric columns), so given z a missing
# entry is also regressed on the row's observed entries. Each row's missing
# entries are then filled with these estimates averaged over 200 draws
# from q(z | x), weighted by how well each draw explains what is observed
# (the MIWAE of Mattei and Frellsen, 2019). It is a transformer, so it goes
# in a :class:`~sklearn.pipeline.Pipeline` before an estimator, as
# scikit-learn's imputers do.
#
# Here 20 % of the entries of the ten features are hidden completely at
# random, in the training and in the test rows. Each imputer, with its
# default settings, sits between a scaler and the ridge regression, and the
# whole pipeline is fitted on the incomplete training rows. On the test
# rows we measure the root mean squared error of the imputed entries
# against the hidden values, on the standardized scale (filling in the
# column means gives about 1), and the R² of the regression.
X, y = load_diabetes(return_X_y=True, scaled=False)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
rng = np.random.default_rng(0)
hidden_train = rng.random(X_train.shape) < 0.2
hidden_test = rng.random(X_test.shape) < 0.2
X_train_missing = np.where(hidden_train, np.nan, X_train)
X_test_missing = np.where(hidden_test, np.nan, X_test)

imputers = {
    "SimpleImputer (mean)": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "VAEImputer": VAEImputer(random_state=0),
}
rmse, r2_missing = {}, {}
for name, imputer in imputers.items():
    pipeline = make_pipeline(StandardScaler(), imputer, RidgeCV())
    pipeline.fit(X_train_missing, y_train)
    filled = pipeline[:-1].transform(X_test_missing)
    truth = pipeline[0].transform(X_test)
    rmse[name] = np.sqrt(np.mean((filled - truth)[hidden_test] ** 2))
    r2_missing[name] = pipeline.score(X_test_missing, y_test)
    print(f"{name:21}: imputation RMSE {rmse[name]:.3f}, R² {r2_missing[name]:.3f}")
complete = make_pipeline(StandardScaler(), RidgeCV()).fit(X_train, y_train)
r2_complete = complete.score(X_test, y_test)
print(f"{'no missing values':21}: R² {r2_complete:.3f}")

# %%
# On this table :class:`~sklearn.impute.IterativeImputer`, which regresses
# every column on the others in turn, is a close second to the VAE in
# filling the hidden entries, ahead of the nearest neighbours and the mean.
# Closer imputations do not make a better regression here: the two most
# accurate imputers give the two lowest R², and the column mean the
# highest. The tabular section of :doc:`the benchmarks </benchmarks>` makes
# the same comparison on two more tables.
fig, (ax_rmse, ax_r2) = plt.subplots(1, 2, figsize=(11, 3.2), layout="constrained")
colors = ["0.6", "C2", "C3", "C0"]
ax_rmse.barh(list(rmse), list(rmse.values()), color=colors)
ax_rmse.set_xlabel("RMSE of the imputed entries (standardized, lower is better)")
ax_r2.barh(list(r2_missing), list(r2_missing.values()), color=colors)
ax_r2.axvline(r2_complete, color="k", linestyle="--", label="no missing values")
ax_r2.set_xlabel("R² of the progression on test rows (higher is better)")
ax_r2.set_yticks([])
ax_r2.legend(loc="lower left", fontsize="small")
for ax in (ax_rmse, ax_r2):
    ax.invert_yaxis()
fig.suptitle("20 % of the entries hidden at random")

# %%
# Incomplete mixed tables
# -----------------------
# The imputer takes the mixed DataFrame too. A missing integer or boolean
# needs one of pandas' nullable dtypes (``"Int64"``, ``"boolean"``): in a
# plain ``int64`` or ``bool`` column pandas turns it into a float or an
# object. Missing entries may be ``NaN``, ``pd.NA`` or ``None``, in any
# column. ``transform`` returns the DataFrame with every hole filled and the
# observed entries untouched, in the same dtypes. The fitted
# ``VAETransformer(missing="mask")`` is the imputer's ``vae_``; it can also
# ``sample`` complete synthetic rows from a model that never saw a complete
# row.
nullable = {column: "Int64" for column in integers} | {"high_bp": "boolean"}
hidden = np.random.default_rng(1).random(train.shape) < 0.2
incomplete = train.astype(nullable).mask(hidden)
imputer = VAEImputer(random_state=0).fit(incomplete)
filled = imputer.transform(incomplete)
print("same dtypes:", filled.dtypes.equals(incomplete.dtypes))
print("missing entries left:", int(filled.isna().sum().sum()))
pd.concat({"incomplete": incomplete.head(4), "filled": filled.head(4)}).round(2)

# %%
# Multiple imputation
# -------------------
# One filled value hides how unsure it is. ``sample_imputations`` returns
# several completions of the same rows: each draws a latent point given
# the observed entries (one of 200 draws from q(z | x), picked by importance
# weight) and, by default, the missing entries from p(x | z) there.
# Analysing every completion and pooling the results (Rubin's rules)
# carries that uncertainty into the analysis; for this the completions must
# vary as much as the hidden values could. A check on the
# training table: the share of hidden numeric entries that lie within the
# 5 % to 95 % range of their 50 completions, which should be near 90 %.
#
# With its full noise covariance, the default imputer draws a missing
# numeric entry from its Gaussian regression on the observed ones at the
# drawn latent point. The check is repeated with ``decoder_noise=False`` and
# with ``covariance="diagonal"``, one noise scale per column.
imputer_diagonal = VAEImputer(covariance="diagonal", random_state=0)
imputer_diagonal.fit(incomplete)
completions = {
    "default": imputer.sample_imputations(incomplete, 50, random_state=0),
    "default, decoder_noise=False": imputer.sample_imputations(
        incomplete, 50, random_state=0, decoder_noise=False
    ),
    'covariance="diagonal"': imputer_diagonal.sample_imputations(
        incomplete, 50, random_state=0
    ),
}
coverage = {}
for name, tables in completions.items():
    coverage[name] = {}
    for column in numeric:
        j = table.columns.get_loc(column)
        values = np.stack([t[column].to_numpy(float) for t in tables])
        low, high = np.percentile(values[:, hidden[:, j]], [5, 95], axis=0)
        truth = train[column].to_numpy(float)[hidden[:, j]]
        coverage[name][column] = np.mean((low <= truth) & (truth <= high))
coverage = pd.DataFrame(coverage).T
coverage["mean"] = coverage.mean(axis=1)
print("share of hidden values inside the 90 % range of 50 completions:")
print(coverage.round(2).to_string())
for name, model in [("default", imputer), ('covariance="diagonal"', imputer_diagonal)]:
    errors = (model.transform(incomplete)[numeric] - train[numeric]) / train[
        numeric
    ].std()
    mse = (
        errors.astype(float)
        .pow(2)
        .to_numpy()[hidden[:, table.columns.get_indexer(numeric)]]
    )
    print(f"{name}: RMSE of the single imputations {np.sqrt(mse.mean()):.3f}")

# %%
# Both imputers' ranges hold close to 90 % of the hidden values on average
# (less for ``progression``), so pooled analyses would get about the right
# uncertainty; the full covariance also makes the single imputations more
# accurate. Without decoder noise the completions differ only by their
# latent point, and the ranges are far too narrow.
#
# The figure shows the 50 completions of the hidden ``bmi`` of six rows by
# the default imputer: for the first three ``bmi_class`` is observed, for
# the last three it is missing too (its completions are on the right). The
# completions are centred according to what is observed, but many cross the
# limits of the observed class (the grey lines). The noise covariance is
# shared by all rows, so how wide the completions with decoder noise are
# depends on which entries of a row are observed but not on their values:
# the coverage above is an average over rows, not a promise for each row.
j_bmi = table.columns.get_loc("bmi")
j_class = table.columns.get_loc("bmi_class")
known_class = np.flatnonzero(hidden[:, j_bmi] & ~hidden[:, j_class])[:3]
unknown_class = np.flatnonzero(hidden[:, j_bmi] & hidden[:, j_class])[:3]
rows = np.r_[known_class, unknown_class]

fig, (ax_bmi, ax_class) = plt.subplots(
    1, 2, figsize=(13, 4.2), width_ratios=[2, 1], layout="constrained"
)
for k, (noise, color) in enumerate([(True, "C0"), (False, "C1")]):
    name = "default" if noise else "default, decoder_noise=False"
    values = np.stack([t["bmi"].to_numpy()[rows] for t in completions[name]])
    parts = ax_bmi.violinplot(
        values, positions=np.arange(len(rows)) + (k - 0.5) * 0.35, widths=0.35
    )
    for body in parts["bodies"]:
        body.set_color(color)
    for key in ("cbars", "cmins", "cmaxes"):
        parts[key].set_color(color)
    ax_bmi.plot([], [], color=color, label=f"decoder_noise={noise}")
ax_bmi.plot(
    np.arange(len(rows)),
    train["bmi"].iloc[rows],
    "kx",
    markersize=9,
    label="hidden value",
)
for limit in (25, 30):  # the limits of the bmi classes
    ax_bmi.axhline(limit, color="0.7", linewidth=0.8, zorder=0)
labels = [f"row {i}\n{incomplete['bmi_class'].iloc[i]}" for i in known_class]
labels += [f"row {i}\n(missing)" for i in unknown_class]
ax_bmi.set_xticks(np.arange(len(rows)), labels)
ax_bmi.set_ylabel("imputed bmi")
ax_bmi.set_xlabel("row of the training table, and its observed bmi_class")
ax_bmi.legend(loc="upper left", fontsize="small")
ax_bmi.set_title("50 completions of a hidden bmi")

imputed_class = pd.DataFrame(
    [t["bmi_class"].iloc[unknown_class].to_numpy() for t in completions["default"]]
)
class_shares = imputed_class.apply(lambda col: col.value_counts(normalize=True))
class_shares = class_shares.T.reindex(columns=bmi_classes, fill_value=0)
class_shares.index = [
    f"row {i}\n(hidden: {train['bmi_class'].iloc[i]})" for i in unknown_class
]
class_shares.plot.barh(stacked=True, ax=ax_class, color=["C2", "C1", "C3"])
ax_class.invert_yaxis()
ax_class.set_xlabel("share of the 50 completions")
ax_class.set_title("imputed bmi_class (decoder_noise=True)")
ax_class.legend(fontsize="small", loc="lower right")
plt.show()
