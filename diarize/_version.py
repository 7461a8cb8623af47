"""The package version (its own module: the writers put it in every output file, and
importing it from the package itself would be an import circle)."""

__version__ = "0.1.0"
