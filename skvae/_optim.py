"""Adam for the training loop, and how many CPU threads a step gets.

The optimizer :func:`~skvae._training.train` uses, the direct call of its
fused kernel that skips ``Adam.step``'s Python bookkeeping where that is
checked to give the same update, and the thread policy for small models.
Plain PyTorch.
"""

import contextlib
import functools

import torch

from ._architectures import ConvArchitecture

__all__ = [
    "make_optimizer",
    "optimizer_step",
    "SMALL_STEP_MACS",
    "step_macs",
    "cpu_threads_for",
]


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
    """Multiply-adds of one forward pass of ``module``'s linear and
    convolution layers over a batch."""
    return batch_size * (
        sum(
            layer.in_features * layer.out_features
            for layer in module.modules()
            if isinstance(layer, torch.nn.Linear)
        )
        + _conv_macs_per_row(module)
    )


_CONVS = (torch.nn.modules.conv._ConvNd,)


def _conv_macs_per_row(module):
    """Multiply-adds of the convolutions of a ``VAEModule`` with a
    :class:`ConvArchitecture` for one row, from the sizes seen in one forward
    pass of a row of zeros (0 for other modules: a user's module is never run
    here, where it could change its own state)."""
    spec = getattr(module, "spec", None)
    conv = isinstance(spec, dict) and type(spec.get("architecture")) is ConvArchitecture
    if not conv:
        return 0
    convs = [m for m in module.modules() if isinstance(m, _CONVS)]
    macs = []

    def count(layer, inputs, output):
        spatial = (inputs[0] if layer.transposed else output).shape[2:].numel()
        macs.append(spatial * layer.weight.numel())

    hooks = [layer.register_forward_hook(count) for layer in convs]
    try:
        param = next(module.parameters())
        with torch.no_grad():
            x = torch.zeros(1, module.spec["n_features"], dtype=param.dtype,
                            device=param.device)
            module.decode(module.encode(x)[0])
    finally:
        for hook in hooks:
            hook.remove()
    return sum(macs)


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
