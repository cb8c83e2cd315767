"""Loading models, data and user code."""

from landscape_cli.load.checkpoint import LoadedCheckpoint, load_checkpoint
from landscape_cli.load.data import load_data, open_data
from landscape_cli.load.factory import import_object

__all__ = ["LoadedCheckpoint", "import_object", "load_checkpoint", "load_data", "open_data"]
