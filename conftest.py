"""Test-session settings shared by the unit tests and the doctests."""

import importlib.util

import pytest
import torch

# The models under test are tiny: one intra-op thread is fastest, and it keeps
# the suite from oversubscribing the cores when pytest-xdist runs workers.
torch.set_num_threads(1)

#: optional extras, the modules they bring and the modules whose doctests need
#: them; without an extra those doctests are skipped, not failed
_EXTRAS = {
    "onnx": (
        ("onnx", "onnxscript", "onnxruntime", "skl2onnx"),
        ("skvae._export", "skvae._onnx_export", "skvae.onnx"),
    ),
    "imbalanced": (("imblearn",), ("skvae._oversampler",)),
    "report": (("sdmetrics",), ("skvae._quality",)),
}
MISSING = {
    extra: doctests
    for extra, (modules, doctests) in _EXTRAS.items()
    if not all(importlib.util.find_spec(name) for name in modules)
}

# skvae/onnx.py imports skl2onnx on import (that is its job): not collected
# for its doctests on a machine without the extra.
collect_ignore = ["skvae/onnx.py"] if "onnx" in MISSING else []


def pytest_collection_modifyitems(config, items):
    for extra, doctests in MISSING.items():
        skip = pytest.mark.skip(
            reason=f'needs the {extra} extra: pip install "skvae[{extra}]"'
        )
        for item in items:
            if isinstance(item, pytest.DoctestItem) and item.name.startswith(
                doctests
            ):
                item.add_marker(skip)
