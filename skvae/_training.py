"""The epoch loop, in plain PyTorch.

Nothing here imports scikit-learn: the estimator hands in tensors, a module,
a likelihood, an optimizer and a generator, and gets back one record per
epoch. Early stopping follows scikit-learn's MLP (``tol``,
``n_iter_no_change``, best validation weights restored), with a relative
tolerance over a window of epochs (:class:`Plateau`). Inside an
initialised ``torch.distributed`` process group of several processes, the
loop runs data-parallel: each process trains on its own shard, gradients are
averaged by ``DistributedDataParallel`` and every decision is agreed (see
:mod:`skvae._parallel`). The objectives are in :mod:`skvae._objectives`, the
optimizer in :mod:`skvae._optim`, the thread policy in :mod:`skvae._threads`.
"""

import contextlib
import copy
import functools
import math
from dataclasses import dataclass, field

import torch

from ._objectives import elbo_terms, kl_warmup_weight
from ._optim import optimizer_step
from ._parallel import _DataParallel, data_parallel_world
from ._threads import thread_policy

__all__ = [
    "Rows",
    "train",
    "TrainingResult",
]


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes
    ----------
    history : list of dict
        One record per epoch: ``loss`` (the objective, recon + kl_weight * kl),
        ``recon``, ``kl``, ``kl_weight`` and ``val_loss`` (recon + beta * kl on
        the validation rows, or None).
    converged : bool
        True when training stopped because the monitored loss stopped
        improving, False when it ran out of epochs.
    best_val_loss : float or None
        Lowest validation loss seen, with early stopping.
    diverged_epoch : int or None
        Number (counting from 1, across calls) of the epoch whose loss or
        weights were not finite; training stopped there and the last finite
        state was restored. None when every epoch was finite.
    interrupted : bool
        True when a ``KeyboardInterrupt`` stopped training; the state at the
        end of the last completed epoch was restored.
    n_threads : int or None
        CPU threads the steps ran on at the end (see :mod:`skvae._threads`).
    """

    history: list = field(default_factory=list)
    converged: bool = False
    best_val_loss: float = None
    diverged_epoch: int = None
    interrupted: bool = False
    n_threads: int = None


class Rows:
    """Rows of a data tensor, served in mini-batches on the training device.

    ``X`` may already live on ``device``: batches are then gathered there.
    Otherwise (a host tensor too large for the device, or one backed by a
    ``numpy.memmap`` that is read as needed) each batch is gathered on the
    host, pinned when the device is a GPU, and copied without blocking.
    Batches always arrive as ``dtype``, so float64 data is converted one
    batch at a time instead of copied whole.

    Parameters
    ----------
    X : torch.Tensor of shape (n_rows, n_features)
    device : torch.device
        Where batches are delivered.
    index : torch.Tensor of int64, optional
        The rows of ``X`` to use (say, the training part of a split); all
        rows when None. No rows are copied to make the subset.
    dtype : torch.dtype, default=torch.float32
    """

    def __init__(self, X, device, index=None, dtype=torch.float32):
        self.X, self.device, self.dtype = X, torch.device(device), dtype
        self.index = None if index is None else index.to(X.device)
        self._pin = self.device.type == "cuda" and X.device.type == "cpu"

    def __len__(self):
        return self.X.shape[0] if self.index is None else len(self.index)

    def batches(self, batch_size, generator=None):
        """Yield the rows in batches, shuffled by ``generator`` when given."""
        n = len(self)
        order = None
        if generator is not None:
            order = torch.randperm(n, generator=generator, device=generator.device)
            order = order.to(self.X.device)  # one transfer per epoch at most
            if self.index is not None:
                order = self.index[order]
        elif self.index is not None:
            order = self.index
        for start in range(0, n, batch_size):
            if order is None:
                batch = self.X[start : start + batch_size]
            else:
                batch = self.X.index_select(0, order[start : start + batch_size])
            if batch.device != self.device:
                if self._pin:
                    batch = batch.pin_memory()
                batch = batch.to(self.device, non_blocking=True)
            yield batch.to(self.dtype)


def _validation_loss(
    module,
    likelihood,
    val,
    beta,
    batch_size,
    generator,
    variational,
    parallel=None,
    n_importance=1,
):
    total = torch.zeros((), device=val.device, dtype=torch.float64)
    with torch.no_grad():
        for batch in val.batches(batch_size):
            recon, kl = elbo_terms(
                module,
                likelihood,
                batch,
                generator=generator,
                variational=variational,
                n_importance=n_importance,
                kl_weight=beta,
            )
            total += (recon + beta * kl).sum(dtype=torch.float64)
    if parallel is not None:  # the mean over every process's validation rows
        torch.distributed.all_reduce(total)
        return float(total) / parallel.n_val_rows
    return float(total) / len(val)


def _snapshot(module, optimizer):
    """Copies of the module's and the optimizer's state, for :func:`_restore`."""
    optimizer_state = optimizer.state_dict()
    optimizer_state["state"] = {
        index: {
            k: v.detach().clone() if isinstance(v, torch.Tensor) else v
            for k, v in entry.items()
        }
        for index, entry in optimizer_state["state"].items()
    }
    weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return weights, optimizer_state


def _restore(module, optimizer, snapshot):
    """Put back a state taken by :func:`_snapshot` (which is then used up)."""
    weights, optimizer_state = snapshot
    module.load_state_dict(weights)
    optimizer.load_state_dict(optimizer_state)


#: the fewest optimizer steps a plateau of the early-stopping rule spans
MIN_PATIENCE_STEPS = 50


def patience(n_iter_no_change, steps_per_epoch):
    """Epochs without improvement before stopping: ``n_iter_no_change``, or
    more where an epoch has so few steps that they span fewer than
    :data:`MIN_PATIENCE_STEPS`. Measured on small tables in
    ``benchmarks/bench_synthetic.py`` (wine's 124 training rows are one
    mini-batch: 10 epochs are 10 steps, and stopping there left the model
    undertrained).

    >>> patience(10, 1), patience(10, 2), patience(10, 5), patience(3, 100)
    (50, 25, 10, 3)
    """
    return max(n_iter_no_change, -(-MIN_PATIENCE_STEPS // max(steps_per_epoch, 1)))


class Plateau:
    """The stopping rule: the last ``window`` epochs improved the best loss by
    at most ``tol`` times its whole improvement since the first epoch.

    A relative test, so that one ``tol`` fits every data set, whatever its
    nats per row, and one that reads the trend of a whole window: on digits
    the held-out ELBO of a VAE gains 0.04-0.10 nats per epoch after its
    150th, under epoch-to-epoch noise of 0.26-0.40 nats, on which any
    per-epoch test of an absolute gain fires at random. With ``tol=0`` it is
    the plain rule: no new best for ``window`` epochs. Measured in
    ``benchmarks/bench_stopping.py``.

    >>> rule = Plateau(window=2, tol=0.1)
    >>> for loss in [10.0, 6.0, 5.0, 4.6, 4.5]:
    ...     rule.append(loss)
    ...     print(loss, rule.reached())
    10.0 False
    6.0 False
    5.0 False
    4.6 False
    4.5 True
    """

    def __init__(self, window, tol):
        self.window, self.tol = window, tol
        # the best loss up to each epoch (the first is the first loss), so
        # every quantity of the rule is one lookup
        self._best = []

    def append(self, loss):
        self._best.append(min(loss, self._best[-1]) if self._best else loss)

    def reached(self):
        if len(self._best) <= self.window:
            return False
        best = self._best
        return best[-1 - self.window] - best[-1] <= self.tol * (best[0] - best[-1])


def train(
    module,
    likelihood,
    optimizer,
    X,
    *,
    n_epochs,
    batch_size,
    generator,
    beta=1.0,
    kl_warmup=0,
    variational=True,
    n_importance=1,
    mixed_precision=False,
    first_epoch=0,
    X_val=None,
    tol=1e-4,
    n_iter_no_change=10,
    stop_early=True,
    on_epoch=None,
):
    """Minimise the negative ELBO over ``n_epochs`` passes of shuffled mini-batches.

    Training fails safely. The losses are summed on the device and checked,
    with the weights, once per epoch; the state at the end of every finite
    epoch is copied. An epoch whose loss, validation loss or weights are not
    finite stops training and the last finite state (weights and optimizer)
    is put back (``diverged_epoch``). A ``KeyboardInterrupt`` stops training
    too, putting back the state and records of the last completed epoch
    (``interrupted``). Either way the best validation weights are then
    restored as usual with ``X_val``. No step synchronises with the device.

    Parameters
    ----------
    module : VAEModule
        Trained in place.
    likelihood : Likelihood
    optimizer : torch.optim.Optimizer
        Over ``module``'s parameters.
    X : Rows or torch.Tensor of shape (n_rows, n_features)
        Training rows; a tensor is used where it lives, on the module's
        device.
    n_epochs, batch_size : int
    generator : torch.Generator
        On the module's device; drives shuffling and the latent noise.
    beta : float
        Weight of the KL term once the warm-up is over.
    kl_warmup : int
        Epochs over which the KL weight rises linearly from 0 to ``beta``.
    variational : bool
        False trains a deterministic autoencoder (see
        :func:`~skvae._objectives.elbo_terms`).
    n_importance : int
        Draws per row of the objective: 1 minimises the negative ELBO, k > 1
        the negative importance-weighted bound over k draws (see
        :func:`~skvae._objectives.importance_weighted_terms`; the records'
        ``recon`` and ``kl`` are then its two terms).
    mixed_precision : bool
        Run the module's forward passes under bfloat16 autocast; the weights,
        the gradients' accumulation and the loss stay float32.
    first_epoch : int
        Number of epochs already run (for the warm-up schedule).
    X_val : Rows or torch.Tensor, optional
        Validation rows. When given, they are monitored for early stopping
        and the weights of the best validation epoch are restored.
    tol, n_iter_no_change : float, int
        Training stops once the last ``n_iter_no_change`` epochs after the
        warm-up improved the best monitored loss by at most ``tol`` times its
        improvement since the first of them (see :class:`Plateau`); the
        window spans at least :data:`MIN_PATIENCE_STEPS` steps: on a small
        table, whose epoch is a mini-batch or two, a plateau of 10 noisy
        epochs is no plateau (see :func:`patience`).
    stop_early : bool
        Whether to apply the rule above at all (``partial_fit`` does not).
    on_epoch : callable, optional
        Called with each epoch's record, for progress display.

    Notes
    -----
    Inside an initialised ``torch.distributed`` process group of several
    processes, every process calls ``train`` with its own shard of rows as
    ``X`` (and of validation rows as ``X_val``) and otherwise the same
    arguments. The module is wrapped in ``DistributedDataParallel``: rank 0's
    weights and optimizer state are broadcast, gradients are averaged at
    every step, and every process takes the same number of steps per epoch
    whatever its shard's length, each step minimising the mean loss over the
    rows of all processes. The epoch's loss, the checks for non-finite values
    and the validation loss are summed over the processes (one
    ``all_reduce`` per epoch each), so every record, every early-stopping
    decision and the restored state are the same on every process. A
    ``KeyboardInterrupt`` puts back the state of the last completed epoch and
    is raised again, since the other processes may be waiting in a collective.

    Returns
    -------
    TrainingResult
    """
    result = TrainingResult()
    data = X if isinstance(X, Rows) else Rows(X, X.device, dtype=X.dtype)
    val = X_val
    if X_val is not None and not isinstance(X_val, Rows):
        val = Rows(X_val, X_val.device, dtype=X_val.dtype)
    n, device = len(data), data.device
    autocast = (
        torch.autocast(device.type, torch.bfloat16)
        if mixed_precision
        else contextlib.nullcontext()
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    step = optimizer_step(optimizer)
    best, best_state = float("inf"), None
    parallel = None
    if data_parallel_world()[1] > 1:
        parallel = _DataParallel(
            module,
            likelihood,
            optimizer,
            data,
            generator,
            batch_size=batch_size,
            variational=variational,
            n_importance=n_importance,
            n_val_rows=0 if val is None else len(val),
            settings={
                "n_epochs": n_epochs,
                "first_epoch": first_epoch,
                "beta": beta,
                "kl_warmup": kl_warmup,
                "variational": variational,
                "n_importance": n_importance,
                "mixed_precision": mixed_precision,
                "validation": val is not None,
                "tol": tol,
                "n_iter_no_change": n_iter_no_change,
                "stop_early": stop_early,
            },
        )
        n = parallel.n_rows
        steps, forward = parallel.steps, parallel.forward
    else:

        def steps():
            return ((batch, None) for batch in data.batches(batch_size, generator))

        forward = functools.partial(
            elbo_terms,
            module,
            likelihood,
            generator=generator,
            variational=variational,
            n_importance=n_importance,
        )

    plateau = Plateau(patience(n_iter_no_change, -(-n // batch_size)), tol)
    val_seed = None
    if val is not None:
        val_seed = int(torch.randint(2**62, (), generator=generator, device=device))
    # The state at the end of the last epoch whose loss and weights were finite,
    # with the number of records it matches; restored on divergence or
    # interrupt. Taken once per epoch: the steps themselves never synchronise.
    last_good = None
    policy = thread_policy(
        module, batch_size, device, data_parallel=parallel is not None
    )
    with policy as threads:
        try:
            last_good = (_snapshot(module, optimizer), 0)
            for epoch in range(first_epoch, first_epoch + n_epochs):
                weight = kl_warmup_weight(epoch, beta, kl_warmup)
                module.train()
                sums = torch.zeros(2, device=device)
                for batch, scale in steps():
                    threads.before_step()
                    with autocast:
                        recon, kl = forward(batch, kl_weight=weight)
                    if scale is None:
                        loss = recon.mean() + weight * kl.mean()
                    else:  # this process's share of the step's mean over all rows
                        loss = (recon.sum() + weight * kl.sum()) * scale
                    for p in params:  # zero_grad(set_to_none=True), minus its overhead
                        p.grad = None
                    loss.backward()
                    step()
                    threads.after_step()
                    with torch.no_grad():
                        sums += torch.stack([recon.sum(), kl.sum()])
                module.eval()
                with torch.no_grad():
                    # A float64 sum of finite float32 weights cannot overflow, so it
                    # is finite exactly when every weight is (7x cheaper than isfinite).
                    weight_sum = torch.stack(
                        [p.sum(dtype=torch.float64) for p in params]
                    )
                    stats = torch.cat([sums.double() / n, weight_sum.sum().reshape(1)])
                    if parallel is not None:  # global means; non-finite if any is
                        torch.distributed.all_reduce(stats)
                recon_mean, kl_mean, weight_sum = stats.tolist()  # one sync per epoch
                record = {
                    "loss": recon_mean + weight * kl_mean,
                    "recon": recon_mean,
                    "kl": kl_mean,
                    "kl_weight": weight,
                    "val_loss": None,
                }
                ok = math.isfinite(weight_sum) and math.isfinite(record["loss"])
                if ok and val is not None:
                    with autocast:
                        record["val_loss"] = _validation_loss(
                            module,
                            likelihood,
                            val,
                            beta,
                            batch_size,
                            # The same draws every epoch, so that the loss moves
                            # with the weights and not with the noise.
                            torch.Generator(device=device).manual_seed(val_seed),
                            variational,
                            parallel,
                            n_importance,
                        )
                    ok = math.isfinite(record["val_loss"])
                if not ok:
                    result.diverged_epoch = epoch + 1
                    _restore(module, optimizer, last_good[0])
                    break
                result.history.append(record)
                last_good = (_snapshot(module, optimizer), len(result.history))
                if on_epoch is not None:
                    on_epoch(record)

                if not stop_early or weight < beta:
                    continue  # the objective still changes during the warm-up
                monitored = record["loss"] if val is None else record["val_loss"]
                if monitored < best:
                    best = monitored
                    if val is not None:
                        best_state = copy.deepcopy(module.state_dict())
                plateau.append(monitored)
                if plateau.reached():
                    result.converged = True
                    break
        except KeyboardInterrupt:
            # Stop cleanly: go back to the end of the last completed epoch, whose
            # weights, optimizer state and records agree, wherever the step was cut.
            result.interrupted = True
            if last_good is not None:
                state, n_records = last_good
                _restore(module, optimizer, state)
                del result.history[n_records:]
            module.eval()
            if parallel is not None:
                # The other processes may be waiting in a collective that this one
                # will never join: stop the job rather than carry on out of step.
                raise
        finally:
            result.n_threads = threads.n_threads
            if parallel is not None:
                parallel.close()

    if val is not None and best_state is not None:
        module.load_state_dict(best_state)
        result.best_val_loss = best
    return result
