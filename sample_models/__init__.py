"""The bundled sample: a small tanh MLP classifier, its checkpoint and its data."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).parent
SAMPLE_CHECKPOINT = SAMPLE_DIR / "classifier.pt"
SAMPLE_DATA = SAMPLE_DIR / "classifier_data.pt"

__all__ = ["SAMPLE_CHECKPOINT", "SAMPLE_DATA", "SAMPLE_DIR"]
