"""How many CPU threads a training step gets: measured while training.

A fixed size threshold cannot know what else the machine runs. On a quiet
2-core machine a second thread speeds a large step up; with one other
CPU-bound process running, every parallel region of a step waits for the
thread the OS has descheduled, and the same fit ran 57 times slower on 2
threads than on 1. So on the CPU, :func:`thread_policy` times real training
steps on one thread and on torch's count, in alternating blocks, keeps the
faster, and times again when the chosen count's step time drifts (load came
or went). The steps timed are the fit's own: nothing is run twice.

The float32 training steps of the default digits model gave bitwise-equal
weights on 1 and 2 threads on torch 2.13's CPU build, but products can round
differently with the count (float64 ones of inner size 256 do), so bitwise
reproducibility whatever the load needs a fixed count: set the environment
variable ``SKVAE_NUM_THREADS`` (or call ``torch.set_num_threads(1)``, which
leaves nothing to choose). Data-parallel training keeps the rule by size
(:func:`cpu_threads_for`), since its processes must stay in step.
Plain PyTorch.
"""

import contextlib
import os
import statistics
import time

import torch

from ._architectures import ConvArchitecture

__all__ = [
    "ENV_THREADS",
    "fixed_thread_count",
    "ThreadChooser",
    "thread_policy",
    "SMALL_STEP_MACS",
    "step_macs",
    "cpu_threads_for",
]

#: environment variable that fixes the number of CPU threads of every fit
ENV_THREADS = "SKVAE_NUM_THREADS"


def fixed_thread_count():
    """The thread count ``SKVAE_NUM_THREADS`` fixes, or None when unset."""
    value = os.environ.get(ENV_THREADS, "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"the environment variable {ENV_THREADS}={value!r} should be a "
            "positive integer (the number of CPU threads to train on), or unset "
            "to let skvae measure which count is faster."
        )
    return count


class ThreadChooser:
    """Choose between one thread and ``n_threads`` by timing training steps.

    Call :meth:`next_count` before each step (and set it), :meth:`record`
    with the step's wall time after it. A trial runs ``rounds`` pairs of
    blocks of ``block`` steps, one block per count; the first step of each
    block is discarded (the thread pool wakes up), and the count with the
    lower median wins, ``n_threads`` only if it is faster by more than
    ``margin`` (fewer threads leave cores to others and slow down less when
    load arrives). A trial ends after a round already when one count is
    ``clear`` times faster: under load the slow count costs most.
    Afterwards, the median of each ``window`` steps is compared with the
    winner's median in its trial; a ratio beyond ``drift`` either way
    starts a new trial.

    Parameters
    ----------
    n_threads : int
        The larger count to try (torch's setting), at least 2.
    decided : tuple, optional
        An earlier :attr:`decision` to start from instead of a trial.
    """

    def __init__(
        self,
        n_threads,
        *,
        block=4,
        rounds=3,
        margin=0.05,
        window=4,
        drift=1.5,
        clear=2.0,
        decided=None,
    ):
        self.candidates = (1, n_threads)
        self.block, self.rounds, self.margin = block, rounds, margin
        self.window, self.drift, self.clear = window, drift, clear
        self.chosen = None  # the count in use once a trial has ended
        self.n_trials = 0
        self._start_trial()
        if decided is not None:  # go on from an earlier decision, still watched
            self.chosen, self.reference = decided
            self._position = len(self._schedule)

    @property
    def decision(self):
        """``(chosen, reference)`` once a trial has ended, else None."""
        return None if self.chosen is None else (self.chosen, self.reference)

    def _start_trial(self):
        self._schedule = [
            count
            for _ in range(self.rounds)
            for count in self.candidates
            for _ in range(self.block)
        ]
        self._position = 0
        self._times = {count: [] for count in self.candidates}
        self._recent = []
        self.n_trials += 1

    @property
    def trialling(self):
        return self._position < len(self._schedule)

    def next_count(self):
        """The thread count for the coming step."""
        if self.trialling:
            return self._schedule[self._position]
        return self.chosen

    def record(self, seconds):
        """Take the wall time of the step just run on :meth:`next_count` threads."""
        if self.trialling:
            count = self._schedule[self._position]
            first_of_block = self._position % self.block == 0
            self._position += 1
            if not first_of_block:
                self._times[count].append(seconds)
            if self._position % (2 * self.block) == 0 and self._clear():
                self._position = len(self._schedule)  # no need to go on
            if not self.trialling:
                self._choose()
            return
        self._recent.append(seconds)
        if len(self._recent) >= self.window:
            now = statistics.median(self._recent)
            self._recent = []
            ratio = now / self.reference if self.reference > 0 else 1.0
            if ratio > self.drift or ratio < 1 / self.drift:
                self._start_trial()

    def _clear(self):
        """Whether one count is already ``clear`` times faster than the other."""
        one, many = (statistics.median(self._times[c]) for c in self.candidates)
        return max(one, many) > self.clear * min(one, many)

    def _choose(self):
        one, many = (statistics.median(self._times[c]) for c in self.candidates)
        self.chosen = self.candidates[1] if many < (1 - self.margin) * one else 1
        self.reference = many if self.chosen != 1 else one


class _Measured:
    """The measured policy inside one call of ``train``."""

    def __init__(self, chooser):
        self.chooser = chooser
        self._current = None
        self._start = None

    @property
    def n_threads(self):
        return self.chooser.next_count()

    def before_step(self):
        count = self.chooser.next_count()
        if count != self._current:
            torch.set_num_threads(count)
            self._current = count
        self._start = time.perf_counter()

    def after_step(self):
        self.chooser.record(time.perf_counter() - self._start)


class _Fixed:
    """A count kept for the whole call (nothing to measure)."""

    def __init__(self, n_threads):
        self.n_threads = n_threads

    def before_step(self):
        pass

    def after_step(self):
        pass


@contextlib.contextmanager
def thread_policy(module, batch_size, device, *, data_parallel=False):
    """The thread policy of one training call; torch's count restored after.

    Yields an object with ``before_step()``, ``after_step()`` (call them
    around each optimisation step) and ``n_threads`` (the count in use). On
    a CPU with more than one thread and no ``SKVAE_NUM_THREADS``, the count
    is measured (:class:`ThreadChooser`), starting from the decision of the
    last call on a model of the same shape if there was one. Otherwise it is
    fixed: the variable's count, torch's on other devices, the size rule
    (:func:`cpu_threads_for`) for data-parallel training.
    """
    before = torch.get_num_threads()
    fixed = fixed_thread_count()  # raises before any change
    if device.type != "cpu":
        yield _Fixed(before)
        return
    if fixed is None and data_parallel:
        with cpu_threads_for(module, batch_size, device):
            yield _Fixed(torch.get_num_threads())
        return
    if fixed is not None or before <= 1:
        count = fixed or before
        torch.set_num_threads(count)
        try:
            yield _Fixed(count)
        finally:
            torch.set_num_threads(before)
        return
    # The decision carries over to the next call on a model of the same shape,
    # so that partial_fit epochs and the fits of a search are not re-trialled.
    key = (
        type(module).__name__,
        tuple(tuple(p.shape) for p in module.parameters()),
        batch_size,
        before,
    )
    chooser = ThreadChooser(before, decided=_DECISIONS.get(key))
    try:
        yield _Measured(chooser)
    finally:
        torch.set_num_threads(before)
        if chooser.decision is not None:
            if len(_DECISIONS) >= _MAX_DECISIONS:
                _DECISIONS.clear()
            _DECISIONS[key] = chooser.decision


#: the last decision per model shape, batch size and thread count, this process
_DECISIONS = {}
_MAX_DECISIONS = 64


#: Training steps of fewer multiply-adds than this run on one CPU thread under
#: data-parallel training: on a quiet 2-core machine a second thread sped fits
#: up 1.01x at 2.9M (batch 128, 100-64-64-8), 1.11x at 7.9M and 1.36x at 24M
#: (``benchmarks/bench_threads.py``).
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
            x = torch.zeros(
                1, module.spec["n_features"], dtype=param.dtype, device=param.device
            )
            module.decode(module.encode(x)[0])
    finally:
        for hook in hooks:
            hook.remove()
    return sum(macs)


@contextlib.contextmanager
def cpu_threads_for(module, batch_size, device):
    """Train small models on one CPU thread, restoring the count afterwards.

    The rule by size, for data-parallel training: a step under
    :data:`SMALL_STEP_MACS` (about 4M multiply-adds per forward pass) runs on
    one thread; larger models and other devices keep torch's setting.
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
