"""`landscape track`: certified curvature over a training run's checkpoints."""

from landscape.analyses.track.analysis import analyse_track, plan
from landscape.analyses.track.checkpoints import expand
from landscape.analyses.track.report import METRICS, Row, TrackReport, TrackSettings

__all__ = ["METRICS", "Row", "TrackReport", "TrackSettings", "analyse_track", "expand", "plan"]
