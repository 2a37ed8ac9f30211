"""Estimator state as a whole: put back after a failed call, or discarded.

Plain Python over an estimator's ``__dict__`` and torch state dicts; no
scikit-learn.
"""

import contextlib
import copy

import torch

__all__ = ["transaction", "discard_fitted_state"]


@contextlib.contextmanager
def transaction(estimator, mutates):
    """Put ``estimator``'s attributes back as they were if the block raises.

    Every attribute is restored on any exception but ``KeyboardInterrupt``
    (whose documented behaviour, keeping the last completed epoch, stands).
    Attributes that the block replaces are restored by reassigning the
    original objects. Those it changes in place are saved first: the random
    state always, and with ``mutates`` (a warm-start or incremental fit,
    which trains the fitted module and optimizer in place) copies of the
    module's weights and the optimizer's state, loaded back into the
    original objects.
    """
    saved = dict(estimator.__dict__)
    random_state = saved.get("_random_state")
    rng_state = None if random_state is None else random_state.get_state()
    module, optimizer = saved.get("module_"), saved.get("optimizer_")
    weights = opt_state = None
    if mutates and module is not None:
        weights = copy.deepcopy(module.state_dict())
        opt_state = copy.deepcopy(optimizer.state_dict())
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        if rng_state is not None:
            random_state.set_state(rng_state)
        if weights is not None:
            with torch.no_grad():
                module.load_state_dict(weights)
            optimizer.load_state_dict(opt_state)
        raise


def discard_fitted_state(estimator):
    """Delete everything ``fit`` set, so that the estimator is unfitted again."""
    for name in list(vars(estimator)):
        fitted = name.endswith("_") and not name.startswith("__")
        if fitted or name == "_random_state":
            delattr(estimator, name)
