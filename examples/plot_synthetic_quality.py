"""
==========================================
Judging a synthetic table with SDMetrics
==========================================

How good is a synthetic table? Two questions come with it: do the synthetic
rows look like the real ones, column by column and pair by pair, and do they
give the real rows away? :func:`~skvae.quality_report` answers both with the
metrics of SDMetrics, the synthetic-data ecosystem's evaluator: its quality
report (Column Shapes, Column Pair Trends), the share of synthetic rows that
copy a training row, and, given rows the model never saw, whether the
synthetic rows lie closer to the training rows than to those. It needs
``pip install "skvae[report]"``.

Here a :class:`~skvae.VAETransformer` learns the wine table, and its draws
are scored next to two references: its decoder means, and a bootstrap of the
training rows, which copies real rows and so scores well on quality and
badly on privacy.
"""

# %%
# A mixed table, and rows held out
# --------------------------------
# The wine data bundled with scikit-learn: 13 chemical measurements of 178
# wines from three cultivars, the cultivar as a categorical column. 40 % of
# the rows (stratified by cultivar) are held out: the model never sees them,
# and they are the yardstick of the privacy check. SDMetrics asks for a
# holdout at least half as large as the training rows.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

from skvae import VAETransformer, quality_report

wine = load_wine(as_frame=True)
table = wine.frame.rename(columns={"target": "cultivar"})
table["cultivar"] = pd.Categorical.from_codes(table["cultivar"], wine.target_names)
train, holdout = train_test_split(
    table, test_size=0.4, stratify=table["cultivar"], random_state=0
)
print(f"{len(train)} training rows, {len(holdout)} held-out rows")

# %%
# Fit, draw and score
# -------------------
# ``quality_report`` draws as many rows as there are training rows with
# ``sample``, which for a model fitted on a DataFrame draws each row from
# p(x | z), the model's full generative process. It hands them to SDMetrics
# with metadata taken from the fitted model: its numeric columns are
# ``numerical`` and its categorical column ``categorical``. Every score is
# in [0, 1], higher is better. The model has every default, chosen for
# tables like this one (``benchmarks/bench_synthetic.py``): the latent size
# it finds (``n_components="auto"``), numeric columns scaled by their
# quantiles (``numeric_scaling="auto"`` on a DataFrame), latents drawn from
# a Gaussian mixture fitted to the training rows' codes
# (``latent_density="auto"`` on a DataFrame) and draws from p(x | z) in
# ``sample``.
vae = VAETransformer(random_state=0)
vae.fit(train)
print(f"{vae.n_iter_} epochs, {vae.n_components_} of {vae.n_latent_} latent "
      "dimensions active")
report = quality_report(vae, train, holdout=holdout, random_state=0)
print(report)

# %%
# Against two references
# ----------------------
# The same function scores rows from anywhere (``synthetic=``): here the
# decoder means (``decoder_noise=False``, the model's best guess of a row
# rather than a draw) and a bootstrap of the training rows. The bootstrap's
# columns and pairs are the real ones up to resampling, so its quality is
# high; but every row is a training row, so every one is a copy and lies
# closer to the training rows than to the held-out ones.
#
# The VAE's draws copy no row. Rows independent of the training rows would
# lie closer to a training row than to a held-out one about 106 / 178 = 60 %
# of the time here, since there are more training rows to be closest;
# SDMetrics' DCR overfitting protection is 1 up to half and falls to 0 at
# all of them. The draws come out at about 84 % here (printed below),
# between the 60 % of rows that know nothing of the training rows and the
# bootstrap's 100 %, without copying any row: on 106 rows the model trains
# for hundreds of epochs, its training loss still improving, and its draws
# lie nearer the training rows than new rows would. The share swings by
# about 0.1 from one split or seed to the next; latents from the prior
# (``latent_density="prior"``) gave 74 % on this split, and 0.05 less than
# the mixture on average over three (``benchmarks/bench_latent_density.py``).
bootstrap = train.sample(len(train), replace=True, random_state=0)
reports = {
    "VAE draws": report,
    "VAE means": quality_report(
        vae, train, holdout=holdout, decoder_noise=False, random_state=0
    ),
    "bootstrap": quality_report(vae, train, holdout=holdout, synthetic=bootstrap),
}
summary = pd.DataFrame({name: r.summary() for name, r in reports.items()})
print(summary.round(3).to_string())

# %%
# Quality against privacy
# -----------------------
# On a table this small, ``closer_to_training`` is the number to watch before
# sharing synthetic rows. A fit stopped on held-out rows
# (``early_stopping=True``, a tenth of the training rows) trains for fewer
# epochs: its draws lie nearer what new rows would give (about 66 % against
# 60 % here), and score lower on quality. Which to prefer is the user's
# call.
stopped = VAETransformer(early_stopping=True, random_state=0).fit(train)
stopped_report = quality_report(stopped, train, holdout=holdout, random_state=0)
for name, model, r in [
    ("defaults", vae, report),
    ("early_stopping=True", stopped, stopped_report),
]:
    print(
        f"{name:20s} {model.n_iter_:4d} epochs: quality {r.score:.3f}, "
        f"closer to training {r.closer_to_training:.1%}"
    )

# %%
# Column by column
# ----------------
# ``column_shape_details`` holds SDMetrics' score of every column:
# ``KSComplement`` (1 minus the Kolmogorov-Smirnov distance) for the numeric
# columns, ``TVComplement`` (1 minus the total variation distance) for the
# cultivar. The means score below the draws on most numeric columns: they
# lack the spread of real rows. ``column_pair_details`` does the same for
# each of the 91 pairs of columns; the lowest pair scores of the draws
# pair a measurement with the cultivar.
shapes = pd.DataFrame(
    {
        name: r.column_shape_details.set_index("Column")["Score"]
        for name, r in reports.items()
    }
)
fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
shapes.plot.barh(ax=ax, color=["C0", "C1", "0.6"], width=0.8)
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("Column Shapes score (1 = the real distribution)")
ax.legend(loc="lower left", fontsize="small")
ax.set_title("SDMetrics' score of each column")

# %%
# The categorical column
# ----------------------
# The cultivar's TVComplement compares the shares of its three categories,
# here for the rows the report scored (the same seed draws the same rows).
# The decoder means give each row its most probable cultivar and the draws
# pick one with the decoder's probabilities. Here both stay within a few
# points of the real shares: the cultivars lie apart in the latent space, so
# the most probable cultivar is usually a clear choice. On a table whose
# categories overlap, the means under-represent the categories that are
# seldom the most probable (which is why ``sample`` draws by default for a
# model fitted on a DataFrame).
draws = vae.sample(len(train), random_state=0, decoder_noise=True)
means = vae.sample(len(train), random_state=0, decoder_noise=False)
shares = pd.DataFrame(
    {
        "real (training)": train["cultivar"].value_counts(normalize=True),
        "VAE draws": draws["cultivar"].value_counts(normalize=True),
        "VAE means": means["cultivar"].value_counts(normalize=True),
    }
).reindex(wine.target_names)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
shares.plot.bar(ax=ax, color=["0.3", "C0", "C1"], rot=0)
ax.set_ylabel("share of rows")
ax.set_title("cultivar, real against synthetic")
plt.show()
