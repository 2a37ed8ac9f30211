"""The version of skvae."""

__version__ = "0.1.0"
