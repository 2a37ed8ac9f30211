"""Test-session settings shared by the unit tests and the doctests."""

import importlib.util

import pytest
import torch

# The models under test are tiny: one intra-op thread is fastest, and it keeps
# the suite from oversubscribing the cores when pytest-xdist runs workers.
torch.set_num_threads(1)

#: the ``onnx`` extra; without it the ONNX doctests are skipped, not failed
_ONNX = ("onnx", "onnxscript", "onnxruntime", "skl2onnx")
HAVE_ONNX = all(importlib.util.find_spec(name) for name in _ONNX)

# skvae/onnx.py imports skl2onnx on import (that is its job): not collected
# for its doctests on a machine without the extra.
collect_ignore = [] if HAVE_ONNX else ["skvae/onnx.py"]

_ONNX_DOCTESTS = ("skvae._export", "skvae._onnx_export", "skvae.onnx")


def pytest_collection_modifyitems(config, items):
    if HAVE_ONNX:
        return
    skip = pytest.mark.skip(reason='needs the onnx extra: pip install "skvae[onnx]"')
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name.startswith(
            _ONNX_DOCTESTS
        ):
            item.add_marker(skip)
