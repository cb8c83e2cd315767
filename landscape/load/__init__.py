"""Loading models, data and user code."""

from landscape.load.checkpoint import LoadedCheckpoint, load_checkpoint
from landscape.load.data import load_data, open_data
from landscape.load.factory import import_object

__all__ = ["LoadedCheckpoint", "import_object", "load_checkpoint", "load_data", "open_data"]
