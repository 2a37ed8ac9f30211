"""
============================================
Digits of a chosen class, and style transfer
============================================

A :class:`~skvae.ConditionalVAE` is fitted with ``fit(X, y)``: its decoder
reads the class y beside the latent z, p(x | z, y), while its encoder
q(z | x) sees the image only. The class is given, so z is left to hold what
the class does not explain: the "style" of the digit (slant, stroke width,
size). ``sample(n, y=c)`` then draws new digits of the class c, and
``sample(X=rows, y=other_classes)`` keeps the style of given digits while
changing their class.
"""

# %%
# Fit a conditional VAE
# ---------------------
# Two latent components (the default) and a Bernoulli likelihood for the
# pixels scaled to [0, 1]. With few latent components the class has no room
# to hide in z, and the decoder must take it from y; a larger z needs a
# stronger KL penalty (``beta``) for the same effect (see
# ``benchmarks/bench_conditional.py``). The epochs are capped to keep the
# example fast.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skvae import ConditionalVAE

X, y = load_digits(return_X_y=True)
X = X / 16.0

cvae = ConditionalVAE(2, likelihood="bernoulli", max_iter=100, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    cvae.fit(X, y)
print(f"classes: {cvae.classes_}; {cvae.n_active_components_} of 2 components in use")


def show_digits(ax, images, n_cols, title):
    """Tile 8 x 8 images in rows of ``n_cols`` on ``ax``."""
    images = np.clip(images, 0, 1).reshape(-1, n_cols, 8, 8)
    images = np.pad(images, ((0, 0), (0, 0), (0, 1), (0, 1)))
    n_rows = images.shape[0]
    ax.imshow(
        images.transpose(0, 2, 1, 3).reshape(n_rows * 9, n_cols * 9),
        cmap="gray_r",
        vmin=0,
        vmax=1,
    )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


# %%
# New digits of every class
# -------------------------
# ``sample(n, y=classes)`` returns ``n`` rows of each class, class by class:
# here one row of the figure per class. The rows are decoder means at latent
# points drawn from the prior N(0, I), so within a row the style varies and
# the class stays. A classifier trained on the real digits only checks that
# the generated ones are what was asked for.
n_per_class = 12
generated = cvae.sample(n_per_class, y=cvae.classes_, random_state=0)
asked = np.repeat(cvae.classes_, n_per_class)
clf = LogisticRegression(max_iter=2000).fit(X, y)
print(
    "generated digits recognised as the class asked for: "
    f"{np.mean(clf.predict(generated) == asked):.0%}"
)

fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
show_digits(ax, generated, n_per_class, "sample(12, y=c), one row per class c")
ax.set_yticks(np.arange(10) * 9 + 3.5, labels=cvae.classes_)

# %%
# Style transfer
# --------------
# ``sample(X=rows, y=targets)`` encodes each row, draws its latent from
# q(z | x), which does not depend on the class, and decodes it with the class
# of ``targets``: the same style, drawn as another digit. Each real digit on
# the left is repeated ten times and re-drawn as every class.
sources = [np.flatnonzero(y == digit)[k] for digit, k in ((3, 0), (7, 5), (2, 9))]
rows = np.repeat(X[sources], len(cvae.classes_), axis=0)
targets = np.tile(cvae.classes_, len(sources))
restyled = cvae.sample(X=rows, y=targets, random_state=0)
print(
    "restyled digits recognised as their new class: "
    f"{np.mean(clf.predict(restyled) == targets):.0%}"
)

fig, axes = plt.subplots(
    1, 2, figsize=(9, 3.4), width_ratios=[1, 10], layout="constrained"
)
show_digits(axes[0], X[sources], 1, "real digit")
show_digits(axes[1], restyled, 10, "sample(X=digit, y=0, 1, ..., 9)")
axes[1].set_xticks(np.arange(10) * 9 + 3.5, labels=cvae.classes_)
plt.show()
