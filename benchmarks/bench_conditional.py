"""Conditional fidelity of ConditionalVAE: are samples of class c seen as c?

A classifier trained on real rows (``MLPClassifier((256,))`` on the real
pixels in [0, 1]; its accuracy on the real test rows is printed beside)
labels ``sample(n, y=c)`` (decoder means) for every class c; the per-class
accuracy is the usual check of a conditional generator. Also the
style-transfer accuracy: real test rows restyled as class (y + 1) mod 10
with ``sample(X=rows, y=...)``. Digits always; MNIST
(``../shared/data/mnist``, all 60,000 training rows unless ``--n-train``)
with ``--mnist``. The model is ``ConditionalVAE(n_components=...,
beta=..., likelihood="bernoulli", learning_rate_init=1e-3)``, with
``--n-components`` 2 unless given (ConditionalVAE's default when this was
measured; it is now ``"auto"``).

Usage::

    python benchmarks/bench_conditional.py                     # digits
    python benchmarks/bench_conditional.py --mnist --epochs 10
    python benchmarks/bench_conditional.py --mnist --n-components 16 --beta 4
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from skvae import ConditionalVAE

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_mnist(data_dir, split, n_rows=None):
    data = np.load(Path(data_dir) / f"mnist_{split}_uint8.npz")
    X, y = data["X"], data["y"]
    if n_rows is not None:
        X, y = X[:n_rows], y[:n_rows]
    return (X.reshape(len(X), -1) / np.float32(255.0)).astype(np.float32), y


def run(name, X_train, y_train, X_test, y_test, *, epochs, hidden, n_per_class, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its ConvergenceWarning
        clf = MLPClassifier((256,), max_iter=args.clf_epochs, random_state=0)
        clf.fit(X_train, y_train)
    real = clf.score(X_test, y_test)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cvae = ConditionalVAE(
            n_components=args.n_components,
            beta=args.beta,
            hidden_layer_sizes=hidden,
            likelihood="bernoulli",
            learning_rate_init=1e-3,
            max_iter=epochs,
            device="cpu",
            random_state=0,
        ).fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    classes = cvae.classes_
    S = cvae.sample(n_per_class, y=classes, random_state=0)
    labels = np.repeat(classes, n_per_class)
    hits = clf.predict(S) == labels
    per_class = [hits[labels == c].mean() for c in classes]
    target = (y_test + 1) % 10
    restyled = cvae.sample(X=X_test, y=target, random_state=0)
    transfer = np.mean(clf.predict(restyled) == target)
    print(
        f"{name}: classifier on real test rows {real:.3f}; on samples "
        f"{hits.mean():.3f} (per class min {min(per_class):.3f}, max "
        f"{max(per_class):.3f}); style transfer {transfer:.3f}; fit {fit_s:.1f} s "
        f"({epochs} epochs, {len(X_train)} rows, n_components="
        f"{args.n_components}, beta={args.beta}, {cvae.n_active_components_} "
        "active)"
    )
    pairs = zip(classes, per_class, strict=True)
    print("  per class:", " ".join(f"{c}:{a:.2f}" for c, a in pairs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-components", type=int, default=2)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--clf-epochs", type=int, default=10, help="MNIST's MLP")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16, y, test_size=0.3, random_state=0)
    run(
        "digits",
        X_tr,
        y_tr,
        X_te,
        y_te,
        epochs=100,
        hidden=(256, 128),
        n_per_class=200,
        args=argparse.Namespace(**{**vars(args), "clf_epochs": 500}),
    )
    if args.mnist:
        X_tr, y_tr = load_mnist(args.data, "train", args.n_train)
        X_te, y_te = load_mnist(args.data, "t10k", 2000)
        run(
            "MNIST",
            X_tr,
            y_tr,
            X_te,
            y_te,
            epochs=args.epochs,
            hidden=(512, 256),
            n_per_class=500,
            args=args,
        )


if __name__ == "__main__":
    main()
