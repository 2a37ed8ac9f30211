"""Every module skvae imports is declared, or optional and named by its extra.

A fresh machine installs only what ``pyproject.toml`` declares, so an import
that works here only because a package happens to be installed breaks every
new user. These tests read the code, not the environment: every ``import`` in
``skvae/`` is parsed with ``ast`` and each third-party module must be

- a declared dependency (``[project.dependencies]``), or
- optional: listed in :data:`skvae._optional.OPTIONAL`, imported only through
  :func:`skvae._optional.import_optional` (never by an ``import`` statement),
  and installed by the extra that the error message names.
"""

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skvae._optional import OPTIONAL

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "skvae"

#: distributions whose import name differs from their normalised name
IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
    "pillow": "PIL",
    "imbalanced-learn": "imblearn",
}


def _module_of(requirement):
    """The top-level import name of a requirement string such as 'numpy>=1.23'."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    name = re.sub(r"[-_.]+", "-", name).lower()
    return IMPORT_NAMES.get(name, name.replace("-", "_"))


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared_modules():
    return {_module_of(r) for r in _project()["dependencies"]}


def extra_modules(extra):
    return {_module_of(r) for r in _project()["optional-dependencies"].get(extra, [])}


def third_party_imports(path):
    """(line, top-level module) of every absolute import in a file that is
    neither the standard library nor skvae itself."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "skvae":
                found.append((node.lineno, top))
    return found


def undeclared_imports(package_dir, declared):
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        for line, module in third_party_imports(path):
            if module in declared:
                continue
            rel = path.relative_to(package_dir.parent)
            if module in OPTIONAL:
                problems.append(
                    f"{rel}:{line} imports the optional {module} directly; use "
                    f'skvae._optional.import_optional("{module}")'
                )
            else:
                problems.append(
                    f"{rel}:{line} imports {module}, which pyproject.toml does "
                    "not declare"
                )
    return problems


def test_every_import_is_declared_or_optional():
    problems = undeclared_imports(PACKAGE, declared_modules())
    assert not problems, "\n".join(problems)


def test_the_check_catches_an_undeclared_import(tmp_path):
    """The check itself can fail: an added import of an undeclared module, and
    a direct import of an optional one, are both reported."""
    package = tmp_path / "skvae"
    package.mkdir()
    (package / "_bad.py").write_text(
        "import numpy\nimport safetensors\n\ndef f():\n    import pandas\n"
    )
    problems = undeclared_imports(package, {"numpy"})
    assert len(problems) == 2, problems
    assert "safetensors, which pyproject.toml does not declare" in problems[0]
    assert "optional pandas directly" in problems[1]


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_optional_modules_are_in_the_extra_their_error_names(module):
    extra, _ = OPTIONAL[module]
    assert module in extra_modules(extra), (
        f"skvae tells users to install {module} with skvae[{extra}], but the "
        f"{extra!r} extra in pyproject.toml does not list it"
    )
    assert module not in declared_modules()


def test_skvae_imports_and_fits_without_the_optional_modules(tmp_path):
    """With pandas (and the test/example-only packages) hidden, skvae imports,
    fits arrays, masked arrays included, and asks for the extra on DataFrames."""
    hidden = sorted(set(OPTIONAL) | {"matplotlib", "dask", "hypothesis"})
    code = textwrap.dedent(
        """
        import numpy as np
        import skvae
        X = np.random.RandomState(0).normal(size=(20, 3))
        kw = dict(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
        skvae.VAETransformer(2, **kw).fit(X).transform(X)
        X[0, 0] = np.nan
        skvae.VAETransformer(2, missing="mask", **kw).fit(X).transform(X)
        try:
            skvae.VAEImputer(n_components=2, **kw).fit(X)
        except ImportError as exc:
            raise SystemExit(f"unexpected: {exc}")
        class Frame:  # looks like a DataFrame, so pandas is needed
            dtypes = [object]
            columns = ["a"]
            iloc = None
        try:
            skvae.VAETransformer(2, **kw).fit(Frame())
        except ImportError as exc:
            print(exc)
        """
    )
    # Each hidden package is shadowed by one whose import fails as a missing
    # package's does, and which never stays in sys.modules.
    for name in hidden:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n'
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'pip install "skvae[tables]"' in result.stdout, result.stdout


def test_the_version_is_read_without_importing_skvae():
    """pip builds skvae in an isolated environment without its dependencies, so
    setuptools must read the version statically: a literal assignment in the
    module that ``[tool.setuptools.dynamic]`` names (else it imports skvae,
    which needs numpy, and ``pip install`` fails on a fresh machine)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, name = config["tool"]["setuptools"]["dynamic"]["version"][
        "attr"
    ].rpartition(".")
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    literal = [
        node.value.value
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == [name]
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert literal, f"{path.name} does not assign {name} a string literal"
    import skvae

    assert skvae.__version__ == literal[0]
