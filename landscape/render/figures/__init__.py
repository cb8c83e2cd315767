"""Figures (matplotlib): one module per analysis, each `draw_*(report, target)`; `target` is a
file object whose `format` attribute (png, jpeg, pdf or svg; png where absent) is the format
the file name asked for."""

import matplotlib

matplotlib.use("Agg")  # files only, never a window


def save(fig, target) -> None:
    """Write `fig` in the target's format and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(target, format=getattr(target, "format", "png"), dpi=120)
    plt.close(fig)
