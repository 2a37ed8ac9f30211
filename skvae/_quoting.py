"""Quoting values in error messages: at most a short slice of any string.

Strings that reach a message may come from a file or from a user's data (a
10 MB column name, say); :func:`quote` and :func:`shorten` are the one way
skvae cuts them, used by the table kinds and by the file format.
"""

__all__ = ["QUOTE_LIMIT", "quote", "shorten"]

#: at most this many characters of any string taken from a file are quoted
QUOTE_LIMIT = 200


def shorten(text, limit=QUOTE_LIMIT):
    """``str(text)`` cut to ``limit`` characters, saying how long it was."""
    text = str(text) if not isinstance(text, str) else text
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def quote(value, limit=QUOTE_LIMIT):
    """``repr(value)`` of a value read from a file, cut to about ``limit``
    characters; a long string is cut before ``repr`` sees it."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value's repr must not hide the error
        text = f"<{type(value).__name__}>"
    return shorten(text, limit)
