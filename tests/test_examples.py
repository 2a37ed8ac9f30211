"""Run every gallery example as a script, as the documentation build does.

Each ``examples/plot_*.py`` runs in its own interpreter with a non-interactive
matplotlib backend and must exit cleanly. ``pytest --durations=0 -m slow``
shows how long each one takes; the gallery asks for well under a minute on a
CPU.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))

#: examples that need an extra the test extra lacks: (extra, its modules);
#: without it they skip (.ci/run runs them in an environment with it)
NEEDS = {"plot_synthetic_quality.py": ("report", ("sdmetrics",))}


def test_examples_are_found():
    assert EXAMPLES, f"no plot_*.py under {ROOT / 'examples'}"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script, tmp_path):
    extra, modules = NEEDS.get(script.name, (None, ()))
    if not all(importlib.util.find_spec(name) for name in modules):
        pytest.skip(f'needs the {extra} extra: pip install "skvae[{extra}]"')
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    # Import skvae from this checkout, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    # The examples fit small models: one BLAS/OpenMP thread per process is
    # fastest and keeps parallel test workers from oversubscribing the cores
    # (under contention, two threads made some examples several times slower).
    env.setdefault("OMP_NUM_THREADS", "1")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,  # anything an example wrote by mistake lands here
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-3000:]}\n"
        f"--- stderr ---\n{result.stderr[-3000:]}"
    )
    assert list(tmp_path.iterdir()) == [], f"{script.name} wrote files"


@pytest.mark.slow
def test_quickstart_runs_without_a_warning(tmp_path):
    """The main demo is the first thing a new user runs: every warning is an
    error here (``-W error``), a ConvergenceWarning included."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "quickstart.py"),
         str(tmp_path / "quickstart.png")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert "figure written to" in result.stdout
    assert (tmp_path / "quickstart.png").stat().st_size > 0
