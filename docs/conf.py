"""Sphinx configuration of the skvae documentation.

Build with ``make -C docs html`` or ``python -m sphinx -W -b html docs
docs/_build/html``; add ``-D plot_gallery=0`` to skip running the examples.
The build never downloads anything: intersphinx is left out on purpose, so no
inventory is fetched, and the gallery only links to skvae's own pages.
"""

import importlib.util
import os
import re
import sys
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

# Build against the working tree, installed or not; sphinxext/ holds helpers.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "sphinxext"))

import skvae  # noqa: E402

# The gallery fits small models: one torch and one BLAS thread are fastest, and
# keep a build on a shared machine from oversubscribing the cores (as in
# conftest.py and tests/test_examples.py). SKVAE_DOCS_THREADS overrides.
_threads = int(os.environ.get("SKVAE_DOCS_THREADS", "1"))
torch.set_num_threads(_threads)
threadpool_limits(_threads)

# -- Project -----------------------------------------------------------------

project = "skvae"
author = "skvae developers"
copyright = "skvae developers"
release = skvae.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
# The class template lists the methods itself; numpydoc must not add another
# autosummary table (it would point at pages that are never generated).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- sphinx-gallery ----------------------------------------------------------

# The quality report's example needs SDMetrics (the report extra, which needs
# pandas<3): without it the example is shown, but not run.
_RUN = r"/plot_" if importlib.util.find_spec("sdmetrics") else r"/plot_(?!synthetic_q)"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": _RUN,
    # Only plot_*.py scripts belong to the gallery (quickstart.py is the
    # README's demo, run from the command line).
    "ignore_pattern": r"^(?!plot_)",
    "within_subsection_order": "gallery_order.GalleryOrder",
    # Link names in the example code to skvae's API pages, and nothing else:
    # links to other projects would need their (downloaded) inventories.
    "doc_module": ("skvae",),
    "reference_url": {"skvae": None},
    "backreferences_dir": "gen_modules/backreferences",
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 1,
}

# -- MyST --------------------------------------------------------------------

myst_heading_anchors = 3

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


# -- Docstring fix-ups -------------------------------------------------------

# In reST a word ending in "_" is a link, so a shape such as
# "(n_samples, n_features_in_)" in a numpydoc type fails with "Unknown target
# name". scikit-learn writes such names in backticks; do that for any
# docstring that does not, so that the -W build keeps passing.
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_attribute_names_in_shapes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "shape (" in line:
            head, shape = line.split("shape (", 1)
            lines[i] = head + "shape (" + _TRAILING_UNDERSCORE.sub(r"`\1`", shape)


# Methods inherited from scikit-learn (get_params, set_output, ...) keep their
# docstrings, whose :ref: and :term: roles point at labels of scikit-learn's
# own documentation. Without intersphinx those cannot resolve, so keep their
# text and drop the link.
_SKLEARN_ROLES = [
    # :ref:`text <label>` and :term:`text <term>` -> text
    (re.compile(r":(?:ref|term):`([^`<]+?)\s*<[^>`]*>`"), r"\1"),
    # :term:`term` -> term
    (re.compile(r":term:`([^`]+)`"), r"\1"),
    # :ref:`label` (titled by the target) -> a pointer to scikit-learn's docs
    (re.compile(r":ref:`[^`]+`"), "scikit-learn's documentation"),
]


def _unlink_sklearn_roles(app, what, name, obj, options, lines):
    if getattr(obj, "__module__", "").partition(".")[0] == "sklearn":
        for pattern, replacement in _SKLEARN_ROLES:
            lines[:] = [pattern.sub(replacement, line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _quote_attribute_names_in_shapes)
    app.connect("autodoc-process-docstring", _unlink_sklearn_roles)
