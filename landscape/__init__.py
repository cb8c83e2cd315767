"""landscape: certified loss-landscape analysis for PyTorch models."""

__version__ = "0.1.0"
