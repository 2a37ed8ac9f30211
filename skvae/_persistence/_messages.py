"""Errors about files; strings from them are quoted with :mod:`skvae._quoting`."""

from .._quoting import QUOTE_LIMIT, quote, shorten

__all__ = ["Invalid", "quote", "shorten", "QUOTE_LIMIT"]


class Invalid(ValueError):
    """What is wrong with a file; :func:`skvae.load` prefixes it with the path."""
