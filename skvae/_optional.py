"""Optional dependencies: imported where they are used, never at import time.

skvae's own dependencies are listed in ``pyproject.toml``; everything else is
imported through :func:`import_optional`, whose error names the extra that
installs it. ``tests/test_dependencies.py`` reads every import in ``skvae/``
and fails on a third-party module that is neither declared nor imported
through this function, and checks that each module below is in its extra.
"""

import importlib

#: optional module -> (the extra that installs it, what skvae needs it for)
OPTIONAL = {
    "pandas": ("tables", "DataFrames, mixed-type tables and missing='mask'"),
    "imblearn": ("imbalanced", "VAEOversampler's sampling_strategy"),
    "onnx": ("onnx", "exporting models to ONNX (skvae.to_onnx)"),
    # torch.onnx's dynamo exporter builds its graphs with onnxscript
    "onnxscript": ("onnx", "exporting models to ONNX (skvae.to_onnx)"),
    "skl2onnx": ("onnx", "converting pipelines to ONNX (import skvae.onnx)"),
    "sdmetrics": ("report", "scoring synthetic tables (skvae.quality_report)"),
}


def import_optional(name):
    """Import the optional module ``name``, or say which extra installs it.

    Parameters
    ----------
    name : str
        A key of :data:`OPTIONAL`, or a submodule of one
        (``"skl2onnx.common.data_types"``).

    Returns
    -------
    module : module
        The imported module.

    Raises
    ------
    ImportError
        If the module is not installed; the message names the extra.

    Examples
    --------
    >>> from skvae._optional import import_optional
    >>> import_optional("pandas").__name__
    'pandas'
    """
    package = name.partition(".")[0]
    extra, purpose = OPTIONAL[package]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"skvae needs {package} for {purpose}, and it is not installed; "
            f'install it with: pip install "skvae[{extra}]"'
        ) from exc
