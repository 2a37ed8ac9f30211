"""The negative ELBO and the epoch loop, in plain PyTorch.

Nothing here imports scikit-learn: the estimator hands in tensors, a module,
a likelihood, an optimizer and a generator, and gets back one record per
epoch. Early stopping follows scikit-learn's MLP (``tol``,
``n_iter_no_change``, best validation weights restored).
"""

import copy
import math
from dataclasses import dataclass, field

import torch

__all__ = [
    "kl_to_standard_normal",
    "elbo_terms",
    "log_importance_weights",
    "make_optimizer",
    "Rows",
    "train",
    "TrainingResult",
]


def kl_to_standard_normal(loc, log_scale):
    """KL(N(loc, exp(log_scale)^2) || N(0, I)) per row, summed over dimensions."""
    return 0.5 * (loc.square() + torch.exp(2 * log_scale) - 1).sum(-1) - log_scale.sum(
        -1
    )


def elbo_terms(module, likelihood, x, *, eps=None, generator=None, variational=True):
    """Reconstruction negative log-likelihood and KL term, one value per row.

    Parameters
    ----------
    module : VAEModule
    likelihood : Likelihood
    x : torch.Tensor of shape (n_rows, n_features)
    eps : torch.Tensor of shape (n_rows, n_components), optional
        Standard normal noise for the reparameterisation; drawn from
        ``generator`` when not given.
    generator : torch.Generator, optional
    variational : bool, default=True
        When False, decode the latent mean itself and return a zero KL term:
        the loss of a deterministic autoencoder with the same likelihood.

    Returns
    -------
    recon, kl : torch.Tensor of shape (n_rows,)
        ``-log p(x | z)`` at one draw ``z ~ q(z | x)``, and the analytic KL
        divergence of q(z | x) from the prior; the negative ELBO is their sum.
    """
    # Under autocast the layers compute in low precision; the loss does not.
    loc, log_scale = (t.to(x.dtype) for t in module.encode(x))
    if not variational:
        recon = -likelihood.log_prob(module.decode(loc).to(x.dtype), x)
        return recon, torch.zeros_like(recon)
    if eps is None:
        eps = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
    params = module.decode(module.reparameterize(loc, log_scale, eps)).to(x.dtype)
    recon = -likelihood.log_prob(params, x)
    return recon, kl_to_standard_normal(loc, log_scale)


def log_importance_weights(module, likelihood, x, eps):
    """Log importance weights ``log p(x, z) - log q(z | x)`` of latent draws.

    Averaging ``exp`` of these over k draws gives an unbiased estimate of
    p(x); the log of that average is the importance-weighted bound of Burda
    et al. (2016), which equals the ELBO in expectation for k = 1 and rises
    towards log p(x) as k grows.

    Parameters
    ----------
    module : VAEModule
    likelihood : Likelihood
    x : torch.Tensor of shape (n_rows, n_features)
    eps : torch.Tensor of shape (n_rows, n_draws, n_components)
        Standard normal noise; draw ``j`` of row ``i`` is
        ``z = loc_i + exp(log_scale_i) * eps[i, j]``.

    Returns
    -------
    log_w : torch.Tensor of shape (n_rows, n_draws)
    """
    loc, log_scale = module.encode(x)
    z = module.reparameterize(loc.unsqueeze(1), log_scale.unsqueeze(1), eps)
    params = module.decode(z.flatten(0, 1)).unflatten(0, z.shape[:2])
    log_px = likelihood.log_prob(params, x.unsqueeze(1))
    # log N(z; 0, I) - log N(z; loc, scale^2) = (|eps|^2 - |z|^2) / 2 + sum
    # log_scale: the 2 pi terms cancel.
    log_ratio = 0.5 * (eps.square() - z.square()).sum(-1)
    return log_px + log_ratio + log_scale.sum(-1, keepdim=True)


def make_optimizer(params, lr):
    """Adam over ``params``, fused into one kernel per step where supported.

    The fused implementation (CPU since torch 2.4, CUDA) updates all
    parameters in one pass and was measured 15-20% faster per epoch here;
    older torch builds fall back to the default implementation.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


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
    """

    history: list = field(default_factory=list)
    converged: bool = False
    best_val_loss: float = None
    diverged_epoch: int = None
    interrupted: bool = False


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


def kl_weight(epoch, beta, kl_warmup):
    """KL weight of epoch ``epoch`` (0-based), rising to ``beta`` in ``kl_warmup``."""
    if kl_warmup <= 0:
        return beta
    return beta * min(1.0, (epoch + 1) / kl_warmup)


def _validation_loss(module, likelihood, val, beta, batch_size, generator, variational):
    total = torch.zeros((), device=val.device, dtype=torch.float64)
    with torch.no_grad():
        for batch in val.batches(batch_size):
            recon, kl = elbo_terms(
                module, likelihood, batch, generator=generator, variational=variational
            )
            total += (recon + beta * kl).sum(dtype=torch.float64)
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
        False trains a deterministic autoencoder (see :func:`elbo_terms`).
    mixed_precision : bool
        Run the module's forward passes under bfloat16 autocast; the weights,
        the gradients' accumulation and the loss stay float32.
    first_epoch : int
        Number of epochs already run (for the warm-up schedule).
    X_val : Rows or torch.Tensor, optional
        Validation rows. When given, they are monitored for early stopping
        and the weights of the best validation epoch are restored.
    tol, n_iter_no_change : float, int
        Training stops once the monitored loss has not improved by ``tol`` for
        more than ``n_iter_no_change`` consecutive epochs after the warm-up.
    stop_early : bool
        Whether to apply the rule above at all (``partial_fit`` does not).
    on_epoch : callable, optional
        Called with each epoch's record, for progress display.

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
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=mixed_precision)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    best, best_state, no_improvement = float("inf"), None, 0
    # The state at the end of the last epoch whose loss and weights were finite,
    # with the number of records it matches; restored on divergence or
    # interrupt. Taken once per epoch: the steps themselves never synchronise.
    last_good = None
    try:
        last_good = (_snapshot(module, optimizer), 0)
        for epoch in range(first_epoch, first_epoch + n_epochs):
            weight = kl_weight(epoch, beta, kl_warmup)
            module.train()
            sums = torch.zeros(2, device=device, dtype=torch.float64)
            for batch in data.batches(batch_size, generator):
                with autocast:
                    recon, kl = elbo_terms(
                        module,
                        likelihood,
                        batch,
                        generator=generator,
                        variational=variational,
                    )
                loss = recon.mean() + weight * kl.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    sums += torch.stack([recon.sum(), kl.sum()]).to(torch.float64)
            module.eval()
            with torch.no_grad():
                # A float64 sum of finite float32 weights cannot overflow, so it
                # is finite exactly when every weight is (7x cheaper than isfinite).
                weight_sum = torch.stack([p.sum(dtype=torch.float64) for p in params])
                stats = torch.cat([sums / n, weight_sum.sum().reshape(1)])
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
                        generator,
                        variational,
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
            no_improvement = no_improvement + 1 if monitored > best - tol else 0
            if monitored < best:
                best = monitored
                if val is not None:
                    best_state = copy.deepcopy(module.state_dict())
            if no_improvement > n_iter_no_change:
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

    if val is not None and best_state is not None:
        module.load_state_dict(best_state)
        result.best_val_loss = best
    return result
