"""Figures (matplotlib, PNG files): one module per analysis, each `draw_*(report, target)`."""

import matplotlib

matplotlib.use("Agg")  # files only, never a window
