"""Kiln: a compilation service for PyTorch graphs (Python client)."""

__version__ = "0.1.0"
