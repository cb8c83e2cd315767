"""The loss landscape itself: `landscape surface` (a plane or a line through θ) and
`landscape interpolate` (the segment between two checkpoints), and the 1D slices of
`landscape sharpness`.

- directions.py: random (filter-, layer- or un-normalised), Hessian eigenvectors, files;
- grid.py: many losses per pass over the data (vmap over stacked parameters, or a loop),
  every one through `Problem.batch_sum`;
- analysis.py: the surface with its quadratic model and trust region;
- interpolate.py: the segment, its barrier and both ends' Taylor models;
- slices.py: the slices `sharpness` draws.
"""

from landscape.analyses.surface.analysis import analyse_surface, axis, grid_coords
from landscape.analyses.surface.directions import (
    NORMALIZATIONS,
    Direction,
    file_directions,
    filter_normalised_direction,
    filter_norms,
    hessian_directions,
    normalise,
    random_directions,
)
from landscape.analyses.surface.grid import Evaluation, point_losses
from landscape.analyses.surface.interpolate import (
    Ends,
    alphas_of,
    analyse_interpolation,
    barrier,
    match_ends,
    norm_layers,
)
from landscape.analyses.surface.report import (
    TRUST_SHARE,
    Barrier,
    Endpoint,
    GridPoint,
    InterpolationReport,
    InterpolationSettings,
    SurfaceReport,
    SurfaceSettings,
    Taylor,
    TrustRegion,
)
from landscape.analyses.surface.slices import (
    LossSlice,
    eigen_slice,
    loss_slice,
    random_slices,
    slice_grid,
)

__all__ = [
    "NORMALIZATIONS",
    "TRUST_SHARE",
    "Barrier",
    "Direction",
    "Endpoint",
    "Ends",
    "Evaluation",
    "GridPoint",
    "InterpolationReport",
    "InterpolationSettings",
    "LossSlice",
    "SurfaceReport",
    "SurfaceSettings",
    "Taylor",
    "TrustRegion",
    "alphas_of",
    "analyse_interpolation",
    "analyse_surface",
    "axis",
    "barrier",
    "eigen_slice",
    "file_directions",
    "filter_normalised_direction",
    "filter_norms",
    "grid_coords",
    "hessian_directions",
    "loss_slice",
    "match_ends",
    "norm_layers",
    "normalise",
    "point_losses",
    "random_directions",
    "random_slices",
    "slice_grid",
]
