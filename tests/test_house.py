"""The package's layout: imports point down, the core knows no scikit-learn,
and every file stays short enough to read in one sitting.

Three layers (see ``docs/extending.rst``): the scikit-learn face (the
estimators), the torch core, and the file format (``skvae._persistence``),
which imports the core and the tables but never an estimator.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skvae"
MAX_LINES = 600

#: the scikit-learn face: the only modules that may import scikit-learn
FACE = {
    "skvae",
    "skvae._base",
    "skvae._validation",
    "skvae._estimator",
    "skvae._density",  # VAETransformer.score_samples and score
    "skvae._autoencoder",
    "skvae._imputer",
    "skvae._conditional",  # ConditionalVAE
    "skvae._oversampler",  # VAEOversampler (imbalanced-learn is optional)
    "skvae._targets",  # y as the condition columns, with type_of_target
    # latent_density="mixture": fitted with scikit-learn's GaussianMixture
    "skvae._latent_mixture",
    # ONNX export: checks a fitted estimator (check_is_fitted, check_array)
    # and registers skl2onnx converters for the estimator classes
    "skvae._export",
    "skvae.onnx",
    # quality_report: checks a fitted estimator and its parameters
    # (check_is_fitted, validate_params) before SDMetrics scores its rows
    "skvae._quality",
}


def modules():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        found[name] = path
    return found


def _resolve(name, path, node):
    """The absolute module names an import statement in ``name`` refers to."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not node.level:
        return [node.module]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    base = f"{package}.{node.module}" if node.module else package
    # "from . import x" may import the submodule x
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def imports():
    """module -> set of imported modules (absolute names), from the code."""
    found = modules()
    graph = {}
    for name, path in found.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_resolve(name, path, node))
        graph[name] = targets
    return graph


def _internal_graph():
    graph = imports()
    return {
        name: {t for t in targets if t in graph and t != name}
        for name, targets in graph.items()
    }


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target, stack)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    graph = _internal_graph()
    # The package's __init__ re-exports everything; it is the top, not a cycle.
    graph = {n: {t for t in ts if t != "skvae"} for n, ts in graph.items()}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(set(modules()) - FACE))
def test_only_the_face_imports_scikit_learn(name):
    sklearn = sorted(t for t in imports()[name] if t.split(".")[0] == "sklearn")
    assert not sklearn, f"{name} is below the scikit-learn face but imports {sklearn}"


def test_the_file_format_never_imports_an_estimator():
    estimators = FACE - {"skvae"}
    for name, targets in _internal_graph().items():
        if name.startswith("skvae._persistence"):
            assert not targets & estimators, f"{name} imports {targets & estimators}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_files_are_short(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, (
        f"{path.name} has {n_lines} lines (at most {MAX_LINES})"
    )
