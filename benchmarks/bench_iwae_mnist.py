"""Quality: importance-weighted test NLL of VAETransformer on binarized MNIST.

Trains the one-stochastic-layer architecture of Burda, Grosse and
Salakhutdinov (2016), 784-200-200-50 with tanh units and a Bernoulli decoder,
with Adam (learning rate 1e-3) on *dynamically* binarized MNIST, through the
public API only: every epoch the 60,000 training images are binarized afresh
(``rng.random(X.shape) < X / 255``) and passed to ``partial_fit``, which runs
one epoch over them. At the checkpoint epochs the test set, binarized once
with a fixed seed, is scored with ``score(X, n_importance=k)``:

* ``k=1``: the ELBO;
* ``k=50``: the IWAE bound Burda et al. train the IWAE with;
* ``k=5000`` (``--k``): the usual estimate of the test log-likelihood, the
  quantity in Burda et al.'s Table 1.

Each bound is a *lower* bound on log p(x), so the printed negative values are
upper bounds on the NLL, tighter as k grows. ``score`` is deterministic (the
noise of each row is derived from its pixels), so numbers are reproducible.

k=5000 costs 5000 decoder passes per row, so by default it is computed on a
fixed random subset of ``--test-rows`` test rows (the same rows at every
checkpoint, drawn with a fixed seed from all 10,000, because the first 5,000
test images are cleaner than the last 5,000); k=1 and k=50 are reported on the
same rows, and at the last checkpoint also on the full test set, which shows
how far the subset is from it.

Training time is measured around the training step alone (binarization +
``partial_fit``): process CPU time (all threads) and wall time, cumulative.
Scoring time is reported separately.

Published reference (Burda et al. 2016, Table 1, 784-200-200-50, 3,280
epochs, NLL with k=5000): VAE 86.76 nats, IWAE (k=50) 84.78 nats. They used
batches of 20 and Adam with the learning rate 1e-3 * 10**(-i/7) for 3**i
epochs, i = 0..7 (``--lr-schedule burda``; the rate is set on the fitted
``optimizer_`` between epochs).

Run from the repository root::

    # CPU budget run (what docs/benchmarks.md reports)
    python benchmarks/bench_iwae_mnist.py --epochs 300 --checkpoints 1 10 30 100 \\
        --test-rows 1000 --threads 1 --max-train-minutes 24
    # the IWAE: the same, trained on the bound with 5 draws (Burda et al.: 50)
    python benchmarks/bench_iwae_mnist.py --epochs 20 --train-k 5 --test-rows 1000
    # smoke run
    python benchmarks/bench_iwae_mnist.py --epochs 1 --n-train 5000 --test-rows 20 \\
        --k 100
    # the full schedule of the paper, on a GPU
    python benchmarks/bench_iwae_mnist.py --epochs 3280 --lr-schedule burda \\
        --batch-size 20 --device cuda --test-rows 10000
"""

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import skvae
from skvae import VAETransformer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
# Same fixed test binarization as bench_elbo_mnist.py.
TEST_BINARIZE_SEED = 1
TEST_SUBSET_SEED = 2
PUBLISHED = {"VAE": 86.76, "IWAE k=50": 84.78}
PUBLISHED_EPOCHS = 3280


def load_images(data_dir, split, n_rows=None):
    """MNIST ``split`` as float32 (n, 784) intensities in [0, 1]."""
    X = np.load(Path(data_dir) / f"mnist_{split}_uint8.npz")["X"]
    if n_rows is not None:
        X = X[:n_rows]
    return (X.reshape(len(X), -1) / np.float32(255.0)).astype(np.float32)


def binarize(P, rng):
    """Bernoulli draws with probabilities P, as float32 in {0, 1}."""
    return (rng.random(P.shape, dtype=np.float32) < P).astype(np.float32)


def burda_learning_rate(epoch, base=1e-3):
    """Burda et al.'s schedule: base * 10**(-i/7) for 3**i epochs, i = 0..7.

    ``epoch`` counts from 0; epochs past the 3,280 of the schedule keep the
    last rate.
    """
    i, end = 0, 1
    while epoch >= end and i < 7:
        i += 1
        end += 3**i
    return base * 10 ** (-i / 7)


def default_checkpoints(epochs):
    marks = [1, 3, 10, 30, 100, 300, 1000, PUBLISHED_EPOCHS]
    return sorted({m for m in marks if m < epochs} | {epochs})


def evaluate(vae, X_rows, ks):
    """Negative bound (nats per row) for each k, and the seconds each took."""
    out = {}
    for k in ks:
        t0 = time.perf_counter()
        out[k] = (-vae.score(X_rows, n_importance=k), time.perf_counter() - t0)
    return out


def write_json(args, rows, results, full_test):
    if args.json is None:
        return
    args.json.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "torch_threads": torch.get_num_threads(),
                "test_rows": rows.tolist() if len(rows) < 10000 else "all",
                "checkpoints": results,
                "full_test": full_test,
            },
            indent=1,
            default=str,
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument(
        "--checkpoints",
        type=int,
        nargs="+",
        default=None,
        help="epochs at which to score (default: 1 3 10 30 100 300 1000 3280, "
        "those below --epochs, and --epochs)",
    )
    parser.add_argument(
        "--test-rows",
        type=int,
        default=1000,
        help="test rows scored at every checkpoint (max 10000)",
    )
    parser.add_argument("--k", type=int, default=5000, help="importance samples")
    parser.add_argument(
        "--train-k",
        type=int,
        default=1,
        help="n_importance_train: 1 trains on the ELBO (the VAE), k > 1 on the "
        "importance-weighted bound (the IWAE; Burda et al. use 50)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--lr-schedule", choices=["constant", "burda"], default="constant"
    )
    parser.add_argument("--n-train", type=int, default=None, help="default: all 60000")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's choice)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-train-minutes",
        type=float,
        default=None,
        help="stop after the epoch that takes the cumulative training "
        "wall time past this, and score there as the last checkpoint",
    )
    parser.add_argument(
        "--no-full-test",
        action="store_true",
        help="skip k=1 and k=50 on all 10,000 rows at the end",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results to this file"
    )
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    checkpoints = sorted(set(args.checkpoints or default_checkpoints(args.epochs)))
    checkpoints = [c for c in checkpoints if 1 <= c <= args.epochs]
    if not checkpoints or checkpoints[-1] != args.epochs:
        checkpoints.append(args.epochs)
    ks = sorted({1, 50, args.k})

    P_train = load_images(args.data_dir, "train", args.n_train)
    P_test = load_images(args.data_dir, "t10k")
    X_test = (
        np.random.default_rng(TEST_BINARIZE_SEED).random(P_test.shape) < P_test
    ).astype(np.float32)
    n_rows = min(args.test_rows, len(X_test))
    if n_rows < len(X_test):
        subset_rng = np.random.default_rng(TEST_SUBSET_SEED)
        rows = np.sort(subset_rng.choice(len(X_test), n_rows, replace=False))
    else:
        rows = np.arange(n_rows)
    X_eval = X_test[rows]

    vae = VAETransformer(
        n_components=50,
        hidden_layer_sizes=(200, 200),
        activation="tanh",
        likelihood="bernoulli",
        batch_size=args.batch_size,
        learning_rate_init=args.lr,
        early_stopping=False,  # a fixed number of epochs, as in the paper
        n_importance_train=args.train_k,
        device=args.device,
        random_state=args.seed,
    )
    print(
        f"skvae {skvae.__version__}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}; "
        f"784-200-200-50 tanh, Bernoulli, Adam lr {args.lr:g} ({args.lr_schedule}), "
        f"batch {args.batch_size}, training draws {args.train_k}, "
        f"dynamic binarization of {len(P_train)} rows; "
        f"scored on {n_rows} of 10000 test rows (fixed binarization seed "
        f"{TEST_BINARIZE_SEED}, subset seed {TEST_SUBSET_SEED}), k = {ks}",
        flush=True,
    )

    rng = np.random.default_rng(args.seed)
    cpu = wall = 0.0
    results = []
    header = (
        f"{'epoch':>6} {'train loss':>10} {'-ELBO k=1':>10} {'-L k=50':>9} "
        f"{'NLL k=' + str(args.k):>11} {'active':>6} {'train CPU s':>11} "
        f"{'train wall s':>12} {'score s':>8}"
    )
    print(header, flush=True)
    for epoch in range(args.epochs):
        c0, w0 = time.process_time(), time.perf_counter()
        X_epoch = binarize(P_train, rng)
        if args.lr_schedule == "burda" and epoch > 0:
            for group in vae.optimizer_.param_groups:
                group["lr"] = burda_learning_rate(epoch, args.lr)
        vae.partial_fit(X_epoch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        out_of_time = (
            args.max_train_minutes is not None and wall > 60 * args.max_train_minutes
        )
        if epoch + 1 not in checkpoints and not out_of_time:
            continue
        scores = evaluate(vae, X_eval, ks)
        record = {
            "epoch": epoch + 1,
            "train_loss": vae.loss_curve_[-1],
            "nll": {k: v for k, (v, _) in scores.items()},
            "score_seconds": {k: s for k, (_, s) in scores.items()},
            "n_active": vae.n_active_components_,
            "train_cpu_s": cpu,
            "train_wall_s": wall,
        }
        results.append(record)
        print(
            f"{epoch + 1:6d} {record['train_loss']:10.2f} {scores[1][0]:10.2f} "
            f"{scores[50][0]:9.2f} {scores[args.k][0]:11.2f} "
            f"{record['n_active']:6d} {cpu:11.0f} {wall:12.0f} "
            f"{sum(s for _, s in scores.values()):8.0f}",
            flush=True,
        )
        write_json(args, rows, results, None)
        if out_of_time:
            print(
                f"stopping: {wall / 60:.1f} min of training > --max-train-minutes "
                f"{args.max_train_minutes:g}",
                flush=True,
            )
            break
    n_epochs = results[-1]["epoch"]

    full = None
    if not args.no_full_test and n_rows < len(X_test):
        full = {k: v for k, (v, _) in evaluate(vae, X_test, [1, 50]).items()}
        print(
            f"\nall 10000 test rows after {n_epochs} epochs: -ELBO {full[1]:.2f}, "
            f"-L50 {full[50]:.2f} (subset: {results[-1]['nll'][1]:.2f}, "
            f"{results[-1]['nll'][50]:.2f})"
        )

    last = results[-1]["nll"][args.k]
    print(
        f"\npublished (Burda et al. 2016, Table 1, {PUBLISHED_EPOCHS} epochs, "
        "k=5000): " + ", ".join(f"{name} {v:.2f}" for name, v in PUBLISHED.items())
    )
    print(
        f"skvae after {n_epochs} epochs: {last:.2f} nats "
        f"({last - PUBLISHED['VAE']:+.2f} vs the published VAE), "
        f"{cpu / 60:.1f} CPU min, {wall / 60:.1f} wall min of training"
    )

    write_json(args, rows, results, full)
    return 0 if math.isfinite(last) else 1


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        sys.exit(main())
