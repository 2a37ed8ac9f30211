"""Data-parallel training over a ``torch.distributed`` process group.

Who this process is in the default group, the ``DistributedDataParallel``
wrapper that :func:`~skvae._training.train` steps through when the group has
several processes, and the all-reduce helpers that make every process agree.
Plain PyTorch: ``torch.distributed`` is touched only when a group is
initialised.
"""

import torch

from ._objectives import elbo_terms

__all__ = [
    "data_parallel_world",
    "mean_across_processes",
    "rows_across_processes",
    "broadcast_from_first",
]


def data_parallel_world():
    """``(rank, world_size)`` of the default ``torch.distributed`` process group.

    ``(0, 1)`` when ``torch.distributed`` is unavailable or not initialised.
    :func:`~skvae._training.train` runs data-parallel when the world size
    exceeds 1.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _process_group_backend():
    """The backend of a ``torch.distributed`` group of several processes, or None."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return str(dist.get_backend())
    return None


def mean_across_processes(total, count, device):
    """Mean over the rows of every process, from this process's sums.

    Parameters
    ----------
    total : ndarray of float64
        This process's sum over its ``count`` rows.
    count : int
    device : torch.device
        Where the reduction runs (a GPU with NCCL).

    Returns
    -------
    mean : ndarray of float64
        The sum of ``total`` over the processes of the default
        ``torch.distributed`` group divided by the sum of ``count``: the same
        on every process.
    """
    total = torch.as_tensor(total, dtype=torch.float64)
    buffer = torch.cat([total.reshape(-1), total.new_tensor([count])]).to(device)
    torch.distributed.all_reduce(buffer)
    buffer = buffer.cpu()
    return (buffer[:-1].reshape(total.shape) / buffer[-1]).numpy()


def rows_across_processes(count):
    """The number of rows over every process of the default group (``count``
    outside one), so that decisions by data size agree across ranks."""
    backend = _process_group_backend()
    if backend is None:
        return count
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if backend == "nccl"
        else torch.device("cpu")
    )
    total = torch.tensor([count], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(total)
    return int(total.item())


def broadcast_from_first(arrays, device):
    """The first process's float64 arrays, on every process.

    Parameters
    ----------
    arrays : dict of str to ndarray of float64
        This process's arrays; every process passes the same names and shapes.
    device : torch.device
        Where the broadcast runs (a GPU with NCCL).

    Returns
    -------
    arrays : dict of str to ndarray of float64
        Rank 0's arrays (new ones), the same on every process.
    """
    out = {}
    for name, value in arrays.items():
        tensor = torch.as_tensor(value, dtype=torch.float64).to(device).contiguous()
        torch.distributed.broadcast(tensor, 0)
        out[name] = tensor.cpu().numpy()
    return out


class _ElboTerms(torch.nn.Module):
    """:func:`~skvae._objectives.elbo_terms` of a module as a forward pass.

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
    """The collective part of :func:`~skvae._training.train` across the default group.

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
