"""The negative ELBO and the epoch loop, in plain PyTorch.

Nothing here imports scikit-learn: the estimator hands in tensors, a module,
a likelihood, an optimizer and a generator, and gets back one record per
epoch. Early stopping follows scikit-learn's MLP (``tol``,
``n_iter_no_change``, best validation weights restored). Inside an
initialised ``torch.distributed`` process group of several processes, the
loop runs data-parallel: each process trains on its own shard, gradients are
averaged by ``DistributedDataParallel`` and every decision is agreed.
"""

import contextlib
import copy
import functools
import math
from dataclasses import dataclass, field

import torch

__all__ = [
    "kl_to_standard_normal",
    "elbo_terms",
    "importance_weighted_terms",
    "log_importance_weights",
    "importance_draws",
    "make_optimizer",
    "Rows",
    "train",
    "TrainingResult",
    "data_parallel_world",
]


def kl_to_standard_normal(loc, log_scale):
    """KL(N(loc, exp(log_scale)^2) || N(0, I)) per row, summed over dimensions."""
    two_log_scale = 2 * log_scale
    terms = loc.square() + two_log_scale.exp() - two_log_scale
    return 0.5 * (terms.sum(-1) - loc.shape[-1])


def elbo_terms(
    module,
    likelihood,
    x,
    *,
    eps=None,
    generator=None,
    variational=True,
    n_importance=1,
    kl_weight=1.0,
):
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
    n_importance : int, default=1
        With k > 1, the terms of the importance-weighted bound of Burda et
        al. (2016) over k draws per row (see :func:`importance_weighted_terms`)
        instead of the ELBO's.
    kl_weight : float, default=1.0
        The weight the caller gives the KL term; only the importance-weighted
        bound, where it acts inside the average over draws, needs it.

    Returns
    -------
    recon, kl : torch.Tensor of shape (n_rows,)
        ``-log p(x | z)`` at one draw ``z ~ q(z | x)``, and the analytic KL
        divergence of q(z | x) from the prior; the negative ELBO is their sum.
    """
    if variational and n_importance > 1:
        return importance_weighted_terms(
            module,
            likelihood,
            x,
            n_importance,
            kl_weight=kl_weight,
            generator=generator,
        )
    loc, log_scale = module.encode(x)
    if loc.dtype != x.dtype:  # under autocast; the loss stays in x's precision
        loc, log_scale = loc.to(x.dtype), log_scale.to(x.dtype)
    if not variational:
        recon = -likelihood.log_prob(module.decode(loc).to(x.dtype), x)
        return recon, torch.zeros_like(recon)
    if eps is None:
        eps = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
    params = module.decode(module.reparameterize(loc, log_scale, eps))
    params = params if params.dtype == x.dtype else params.to(x.dtype)
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
    return importance_draws(module, likelihood, x, eps)[1]


def importance_draws(module, likelihood, x, eps):
    """Decoder outputs at latent draws, with the draws' log importance weights.

    Parameters are as for :func:`log_importance_weights`.

    Returns
    -------
    params : torch.Tensor of shape (n_rows, n_draws, n_params)
        The decoder's raw outputs at each draw.
    log_w : torch.Tensor of shape (n_rows, n_draws)
        ``log p(x | z) + log p(z) - log q(z | x)`` of each draw.
    """
    loc, log_scale = module.encode(x)
    z = module.reparameterize(loc.unsqueeze(1), log_scale.unsqueeze(1), eps)
    params = module.decode(z.flatten(0, 1)).unflatten(0, z.shape[:2])
    log_px = likelihood.log_prob(params, x.unsqueeze(1))
    # log N(z; 0, I) - log N(z; loc, scale^2) = (|eps|^2 - |z|^2) / 2 + sum
    # log_scale: the 2 pi terms cancel.
    log_ratio = 0.5 * (eps.square() - z.square()).sum(-1)
    return params, log_px + log_ratio + log_scale.sum(-1, keepdim=True)


def importance_weighted_terms(
    module, likelihood, x, k, *, kl_weight=1.0, generator=None
):
    """The importance-weighted bound over ``k`` draws per row, as two terms.

    The bound of Burda et al. (2016), with the prior and posterior terms
    weighted by ``kl_weight`` inside the average (1 gives the bound itself;
    less, as in a beta-VAE or a KL warm-up, loosens it)::

        bound = log (1/k) sum_j exp(log p(x | z_j) + w (log p(z_j) - log q(z_j | x)))

    It rises towards log p(x) as k grows (k = 1 is the ELBO), and training on
    it gives the model of the importance-weighted autoencoder. It is returned
    split like the ELBO so that ``recon + kl_weight * kl`` is the negative
    bound: ``kl`` is the KL divergence estimated over the draws with their
    normalised importance weights (no gradient flows through it) and
    ``recon`` is the rest.

    Returns
    -------
    recon, kl : torch.Tensor of shape (n_rows,)
    """
    loc, log_scale = module.encode(x)
    eps = torch.randn(
        (x.shape[0], k, loc.shape[-1]),
        generator=generator,
        device=loc.device,
        dtype=x.dtype,
    )
    loc, log_scale = loc.to(x.dtype), log_scale.to(x.dtype)
    z = module.reparameterize(loc.unsqueeze(1), log_scale.unsqueeze(1), eps)
    params = module.decode(z.flatten(0, 1)).unflatten(0, z.shape[:2]).to(x.dtype)
    log_px = likelihood.log_prob(params, x.unsqueeze(1))
    # log q(z | x) - log p(z): the 2 pi terms cancel
    log_ratio = 0.5 * (z.square() - eps.square()).sum(-1) - log_scale.sum(
        -1, keepdim=True
    )
    log_w = log_px - kl_weight * log_ratio
    bound = torch.logsumexp(log_w, dim=1) - math.log(k)
    with torch.no_grad():
        kl = (torch.softmax(log_w, dim=1) * log_ratio).sum(1)
    return -bound - kl_weight * kl, kl


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


def optimizer_step(optimizer):
    """A callable that does ``optimizer.step()``, with less overhead where it can.

    For a fused Adam with one parameter group and default options (the
    optimizer :func:`make_optimizer` builds), the returned function calls
    the fused kernel directly, as ``Adam.step`` does after about 40 us of
    Python bookkeeping per call (4-5% of a step of a digits-size model on
    the CPU). The direct call is used only if it has been checked, once per
    process, to give bitwise the same update as ``Adam.step``; otherwise, and
    for any other optimizer, ``optimizer.step`` itself is returned.
    """
    if type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1:
        return optimizer.step
    group = optimizer.param_groups[0]
    params = group["params"]
    plain = (
        group.get("fused")
        and not any(
            group.get(option)
            for option in (
                "amsgrad",
                "maximize",
                "capturable",
                "differentiable",
                "decoupled_weight_decay",
            )
        )
        and group.get("weight_decay") == 0
        and type(group.get("lr")) is float
        # hooks (torch keeps them in these private dicts; unknown means "maybe")
        and not getattr(optimizer, "_optimizer_step_pre_hooks", True)
        and not getattr(optimizer, "_optimizer_step_post_hooks", True)
        and params
        and all(
            p.device == params[0].device and p.dtype == params[0].dtype for p in params
        )
    )
    if not plain or not _direct_adam_matches():
        return optimizer.step

    def step():
        grads = [p.grad for p in params]
        if len(optimizer.state) != len(params) or any(
            g is None or g.is_sparse for g in grads
        ):
            return optimizer.step()  # the first step creates the state
        _fused_adam_update(params, grads, optimizer.state, group)

    return step


@torch.no_grad()
def _fused_adam_update(params, grads, state, group):
    """The update of ``Adam.step`` (fused, defaults), as one kernel call."""
    entries = [state[p] for p in params]
    steps = [entry["step"] for entry in entries]
    torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(
        params,
        grads,
        [entry["exp_avg"] for entry in entries],
        [entry["exp_avg_sq"] for entry in entries],
        [],
        steps,
        amsgrad=False,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=0.0,
        eps=group["eps"],
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


@functools.cache
def _direct_adam_matches():
    """Whether :func:`_fused_adam_update` reproduces ``Adam.step`` bitwise.

    Checked once per process over four steps of a small CPU parameter; any
    error (a changed signature in another torch version, say) means no.
    """
    try:
        generator = torch.Generator().manual_seed(0)
        start = torch.randn(7, generator=generator)
        reference = torch.nn.Parameter(start.clone())
        candidate = torch.nn.Parameter(start.clone())
        adam_ref = torch.optim.Adam([reference], lr=1e-2, fused=True)
        adam = torch.optim.Adam([candidate], lr=1e-2, fused=True)
        for i in range(4):
            grad = torch.randn(7, generator=generator)
            reference.grad, candidate.grad = grad.clone(), grad.clone()
            adam_ref.step()
            if i == 0:
                adam.step()  # creates the state
            else:
                _fused_adam_update(
                    [candidate], [candidate.grad], adam.state, adam.param_groups[0]
                )
        ok = torch.equal(reference, candidate) and all(
            torch.equal(adam_ref.state[reference][key], adam.state[candidate][key])
            for key in ("step", "exp_avg", "exp_avg_sq")
        )
    except Exception:  # noqa: BLE001 - whatever went wrong, use Adam.step
        ok = False
    return bool(ok)


#: Training steps of fewer multiply-adds than this run on one CPU thread: on a
#: quiet 2-core machine a second thread sped fits up 1.01x at 2.9M (batch 128,
#: 100-64-64-8), 1.11x at 7.9M and 1.36x at 24M (``benchmarks/bench_threads.py``).
SMALL_STEP_MACS = 2**22


def step_macs(module, batch_size):
    """Multiply-adds of one forward pass of ``module``'s linear layers over a batch."""
    return batch_size * sum(
        layer.in_features * layer.out_features
        for layer in module.modules()
        if isinstance(layer, torch.nn.Linear)
    )


@contextlib.contextmanager
def cpu_threads_for(module, batch_size, device):
    """Train small models on one CPU thread, restoring the count afterwards.

    A step of a small model (under :data:`SMALL_STEP_MACS`, about 4M,
    multiply-adds per forward pass) has too little arithmetic to share
    between threads: on a quiet machine a second thread gains a few percent
    at most, and on a busy one every parallel region waits for the thread the
    OS has descheduled, which made small fits up to several times slower
    here. Larger models and other devices
    keep torch's setting.
    """
    before = torch.get_num_threads()
    small = device.type == "cpu" and step_macs(module, batch_size) < SMALL_STEP_MACS
    if not small or before <= 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def data_parallel_world():
    """``(rank, world_size)`` of the default ``torch.distributed`` process group.

    ``(0, 1)`` when ``torch.distributed`` is unavailable or not initialised.
    :func:`train` runs data-parallel when the world size exceeds 1.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _ElboTerms(torch.nn.Module):
    """:func:`elbo_terms` of a module as a forward pass.

    ``DistributedDataParallel`` prepares the reduction of the gradients when
    its ``forward`` runs, but the loss calls the module's ``encode`` and
    ``decode``, not its ``forward``. Wrapped in this module, the whole loss
    computation is the forward pass DDP sees.
    """

    def __init__(self, module, likelihood, variational, n_importance=1):
        super().__init__()
        self.module = module
        self.likelihood = likelihood
        self.variational = variational
        self.n_importance = n_importance

    def forward(self, x, generator=None, kl_weight=1.0):
        return elbo_terms(
            self.module,
            self.likelihood,
            x,
            generator=generator,
            variational=self.variational,
            n_importance=self.n_importance,
            kl_weight=kl_weight,
        )


class _DataParallel:
    """The collective part of :func:`train` across the default process group.

    Each process holds its own shard of rows. On construction the processes
    exchange their shard sizes and settings (one ``all_gather``; differing
    settings are an error on every process rather than a hang), rank 0's
    optimizer state is broadcast, and the module is wrapped in
    ``DistributedDataParallel``, which broadcasts rank 0's weights and
    averages the gradients during every ``backward``.

    Shards of unequal length: every process takes the same number S of steps
    per epoch, the most batches of ``batch_size`` rows any shard needs. Each
    shard is cut into batches of ``ceil(n_rows / S)`` rows, the last ones
    shorter, and a process whose rows run out steps on an empty batch. A
    process's loss is the sum of its rows' terms times ``world_size / m_s``,
    with ``m_s`` the rows of step s across all processes (known to each from
    the exchanged sizes, so no step communicates more than DDP does); DDP's
    averaging then gives the gradient of the mean over the ``m_s`` rows, as
    one process holding them all would compute it.
    """

    def __init__(
        self,
        module,
        likelihood,
        optimizer,
        data,
        generator,
        *,
        batch_size,
        variational,
        n_val_rows,
        settings,
        n_importance=1,
    ):
        dist = torch.distributed
        from torch.nn.parallel import DistributedDataParallel

        rank, world = data_parallel_world()
        device = data.device
        names = list(settings)
        local = torch.tensor(
            [len(data), -(-len(data) // batch_size), n_val_rows]
            + [float(settings[k]) for k in names],
            dtype=torch.float64,
            device=device,
        )
        gathered = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(gathered, local)
        table = torch.stack(gathered).cpu()
        differ = [
            k
            for k, col in zip(names, table[:, 3:].T, strict=True)
            if (col != col[0]).any()
        ]
        if differ:
            raise ValueError(
                "Data-parallel training needs the same parameters on every process, "
                f"but these differ across ranks: {', '.join(differ)}."
            )
        sizes = [int(n) for n in table[:, 0]]
        n_steps = int(table[:, 1].max())
        per_step = [-(-n // n_steps) for n in sizes]
        self.n_rows = sum(sizes)
        self.n_val_rows = int(table[:, 2].sum())
        self._scales = [
            world
            / sum(
                min(b, max(0, n - s * b)) for n, b in zip(sizes, per_step, strict=True)
            )
            for s in range(n_steps)
        ]
        self._data, self._generator = data, generator
        self._batch_size = per_step[rank]
        self._empty = torch.empty((0, data.X.shape[1]), device=device, dtype=data.dtype)
        _broadcast_optimizer_state(optimizer, device)
        if device.type == "cuda":
            index = device.index
            device_ids = [torch.cuda.current_device() if index is None else index]
        else:
            device_ids = None
        self._ddp = DistributedDataParallel(
            _ElboTerms(module, likelihood, variational, n_importance),
            device_ids=device_ids,
        )

    def steps(self):
        """This process's batches of one epoch, each with its loss scale."""
        batches = self._data.batches(self._batch_size, self._generator)
        for scale in self._scales:
            yield next(batches, self._empty), scale

    def forward(self, batch, kl_weight=1.0):
        return self._ddp(batch, generator=self._generator, kl_weight=kl_weight)

    def close(self):
        """Detach DDP's gradient hooks from the module's parameters."""
        remove = getattr(self._ddp, "_remove_autograd_hooks", None)
        if remove is not None:
            remove()
        self._ddp = None


def _broadcast_optimizer_state(optimizer, device):
    """Give every process rank 0's optimizer state (Adam's moments and steps)."""
    dist = torch.distributed
    tensors = [
        value
        for group in optimizer.param_groups
        for p in group["params"]
        for value in optimizer.state.get(p, {}).values()
        if torch.is_tensor(value)
    ]
    counts = torch.tensor([len(tensors), -len(tensors)], device=device)
    dist.all_reduce(counts, op=dist.ReduceOp.MAX)
    if int(counts[0]) != -int(counts[1]):
        raise ValueError(
            "The optimizer's state differs across processes (a warm start or "
            "partial_fit after fits that were not all data-parallel); fit afresh "
            "on every process."
        )
    for tensor in tensors:
        on_device = tensor.to(device)  # NCCL needs it there; a no-op elsewhere
        dist.broadcast(on_device, 0)
        if on_device is not tensor:
            tensor.copy_(on_device)


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
        False trains a deterministic autoencoder (see :func:`elbo_terms`).
    n_importance : int
        Draws per row of the objective: 1 minimises the negative ELBO, k > 1
        the negative importance-weighted bound over k draws (see
        :func:`importance_weighted_terms`; the records' ``recon`` and ``kl``
        are then its two terms).
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
    best, best_state, no_improvement = float("inf"), None, 0
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

    val_seed = None
    if val is not None:
        val_seed = int(torch.randint(2**62, (), generator=generator, device=device))
    # The state at the end of the last epoch whose loss and weights were finite,
    # with the number of records it matches; restored on divergence or
    # interrupt. Taken once per epoch: the steps themselves never synchronise.
    last_good = None
    with cpu_threads_for(module, batch_size, device):
        try:
            last_good = (_snapshot(module, optimizer), 0)
            for epoch in range(first_epoch, first_epoch + n_epochs):
                weight = kl_weight(epoch, beta, kl_warmup)
                module.train()
                sums = torch.zeros(2, device=device)
                for batch, scale in steps():
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
            if parallel is not None:
                # The other processes may be waiting in a collective that this one
                # will never join: stop the job rather than carry on out of step.
                raise
        finally:
            if parallel is not None:
                parallel.close()

    if val is not None and best_state is not None:
        module.load_state_dict(best_state)
        result.best_val_loss = best
    return result
