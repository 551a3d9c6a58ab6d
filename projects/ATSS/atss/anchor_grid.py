"""
ATSS candidate selection (Algorithm 1, lines 3-6: per level, the k anchors whose centres are
closest to a ground-truth centre) in O(A + G * k * L) instead of O(A * G) when the anchors of
every level form a regular grid, as detectron2's ``DefaultAnchorGenerator`` lays them out.

The grid is read back from the anchor tensor itself (nothing is cached between calls), each
ground-truth centre only looks at a fixed window of locations around its nearest location (a
larger one for the few centres near the border or outside the image), and a per-ground-truth
bound proves that no anchor outside the window could have been selected. The result is then
identical to the dense selection ``atss.assignment.topk_nearest_candidates``: same anchors, same
order, ties broken towards the lower anchor index.
"""
import functools
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple
import torch

__all__ = ["AnchorGrid", "anchor_centers", "detect_anchor_grid", "grid_topk_candidates"]

# A level is a grid when every anchor centre equals its regenerated grid location up to this many
# float eps (relative to the level's largest coordinate): rounding, e.g. of (x0 + x1) / 2 for the
# cell anchors of one location, not jitter.
_GRID_TOLERANCE_EPS = 64.0
# float32 +inf as an int32 bit pattern: larger than the bits of any finite distance.
_INF_BITS = 0x7F800000

# (row, column) offsets of locations from a centre's nearest location.
Offsets = Tuple[Tuple[int, int], ...]


@dataclass(frozen=True)
class AnchorGrid:
    """
    The layout of one level: anchor ``(i * width + j) * num_cell_anchors + a`` is cell anchor
    ``a`` at location (row ``i``, column ``j``), whose centre is within ``deviation`` (per axis)
    of ``origin + (j, i) * stride``.
    """

    height: int
    width: int
    num_cell_anchors: int
    origin: Tuple[float, float]  # (x, y) centre of location (0, 0)
    stride: Tuple[float, float]  # (x, y) step between neighbouring locations
    deviation: Tuple[float, float]  # (x, y) largest distance of a centre from its location


def anchor_centers(anchors: torch.Tensor) -> torch.Tensor:
    """
    Args:
        anchors: (N, 4) boxes in XYXY format.

    Returns:
        (N, 2) box centres ``((x0 + x1) / 2, (y0 + y1) / 2)`` in the anchors' dtype, the formula of
        the dense selection, so that both paths compare bit-identical distances.
    """
    return (anchors[:, :2] + anchors[:, 2:]) / 2


def _center_distances(anchor_ctrs: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """
    L2 distances between broadcastable (..., 2) anchor centres and centres, written exactly as
    ``atss.assignment.topk_nearest_candidates`` writes them: equal values must stay equal.
    """
    dx = anchor_ctrs[..., 0] - centers[..., 0]
    dy = anchor_ctrs[..., 1] - centers[..., 1]
    return (dx * dx + dy * dy).sqrt()


def _leading_run(values: torch.Tensor, tol: float) -> int:
    """
    Number of leading rows of the (n, d) ``values`` within ``tol`` of the first row, reading a
    prefix growing 8-fold at a time: O(answer) work, not O(n), for the short runs of a grid.
    """
    length = 64
    while True:
        beyond = ((values[:length] - values[0]).abs() > tol).any(dim=1)
        if bool(beyond.any()):
            return int(beyond.int().argmax())
        if length >= values.shape[0]:
            return values.shape[0]
        length *= 8


def _read_grid(ctrs: torch.Tensor) -> Optional[AnchorGrid]:
    """:func:`detect_anchor_grid` on the (N, 2) anchor centres, N > 0."""
    num = ctrs.shape[0]
    eps = torch.finfo(ctrs.dtype).eps
    # Coordinates of a grid are largest at its first or last location.
    scale = float(torch.cat([ctrs[0], ctrs[-1]]).abs().max()) + 1.0
    if not math.isfinite(scale):
        return None
    tol = _GRID_TOLERANCE_EPS * eps * scale

    num_cell = _leading_run(ctrs, tol)
    if num % num_cell:
        return None
    locations = ctrs[::num_cell]
    width = _leading_run(locations[:, 1:], tol)
    if locations.shape[0] % width:
        return None
    height = locations.shape[0] // width

    x0, y0 = (float(v) for v in locations[0])
    step_x = (float(locations[width - 1, 0]) - x0) / (width - 1) if width > 1 else 0.0
    step_y = (float(locations[-1, 1]) - y0) / (height - 1) if height > 1 else 0.0
    # A single row or column has no step along the other axis; any non-zero one describes it.
    step_x = step_x or step_y or 1.0
    step_y = step_y or step_x
    if min(abs(step_x), abs(step_y)) <= tol:
        return None

    # Largest distance of a centre from its grid location, computed in the centres' dtype and
    # rounded up to bound the exact one: every anchor is checked, O(N).
    grid = torch.arange(max(width, height), dtype=torch.float64, device=ctrs.device)
    ideal_x = (x0 + grid[:width] * step_x).to(ctrs.dtype).view(1, width, 1)
    ideal_y = (y0 + grid[:height] * step_y).to(ctrs.dtype).view(height, 1, 1)
    per_location = ctrs.view(height, width, num_cell, 2)
    low_x, high_x = torch.aminmax(per_location[..., 0] - ideal_x)
    low_y, high_y = torch.aminmax(per_location[..., 1] - ideal_y)
    spans = torch.stack([-low_x, high_x, -low_y, high_y]).view(2, 2).amax(dim=1)
    deviation = [span * (1 + eps) + eps * scale for span in spans.tolist()]
    # NaN deviations (non-finite anchors) fail this too.
    if not all(d <= tol for d in deviation):
        return None
    return AnchorGrid(
        height=height,
        width=width,
        num_cell_anchors=num_cell,
        origin=(x0, y0),
        stride=(step_x, step_y),
        deviation=(deviation[0], deviation[1]),
    )


def detect_anchor_grid(anchors: torch.Tensor) -> Optional[AnchorGrid]:
    """
    Read the layout of one level's anchors in O(N): the number of cell anchors per location (the
    leading anchors sharing the first centre), the width (the leading locations sharing the first
    row) and the strides, then check that every anchor centre equals the regenerated grid up to
    float rounding.

    Only the centres are checked, as only they matter to the nearest-centre selection; cell
    anchors must share their centre, as detectron2's (centred at (0, 0)) do.

    Args:
        anchors: (N, 4) boxes in XYXY format, N > 0.

    Returns:
        the grid, or None when the anchors are not laid out as a grid.
    """
    return _read_grid(anchor_centers(anchors))


def _with_frontier(inside: Callable[[int, int], bool], radius: int) -> Tuple[Offsets, Offsets]:
    """
    The (row, column) offsets within ``radius`` that are ``inside`` a window, in row-major order
    (so that anchor indices increase along them), and its frontier: the offsets outside it from
    which every step towards (0, 0) enters it. Walking from any offset left out towards (0, 0)
    while staying outside ends on the frontier, so the regions beyond the frontier offsets hold
    every location left out.
    """

    def step_in(v: int) -> int:
        return v - (v > 0) + (v < 0)

    box = [(q, p) for q in range(-radius, radius + 1) for p in range(-radius, radius + 1)]
    window = tuple(o for o in box if inside(*o))
    frontier = tuple(
        (q, p)
        for q, p in box
        if not inside(q, p)
        and (q == 0 or inside(step_in(q), p))
        and (p == 0 or inside(q, step_in(p)))
    )
    return window, frontier


@functools.lru_cache(maxsize=None)
def _windows(num_locations: int) -> Tuple[Tuple[Offsets, Offsets], Tuple[Offsets, Offsets]]:
    """
    Two windows of offsets from a centre's nearest location (ic, jc), clamped to the grid, that
    hold its ``num_locations`` nearest locations, each with its frontier (:func:`_with_frontier`).

    The compact window serves centres inside the grid: there the b x b block of locations
    around a centre (b = ceil(sqrt(num_locations))) lies within b / sqrt(2) strides of it, and a
    location at offsets (q, p) is at least sqrt((|q| - 1/2)^2 + (|p| - 1/2)^2) strides away, so
    only the locations that may come that close are kept. Near the border and outside the image
    the proof of exactness may fail with it.

    The complete window holds the nearest locations of any centre. Along a row the x distance
    grows with the column's distance from jc on either side, strictly from 2 columns away on;
    likewise along a column. A location at offsets (q, p) with p >= 2 is therefore strictly
    farther than the p * (q + 1) locations of the rectangle between it and (ic, jc) in the columns
    closer to jc, and with q >= 2 too, than all (p + 1) * (q + 1) - 1 others of that rectangle.
    Once that count reaches ``num_locations`` the location (its anchors share its centre) is not
    among the nearest, ties included. The 3 x 3 block is always kept: a centre on a cell border
    ties its nearest locations. A square is not enough: far above the image the nearest locations
    form a row. For k = 9 with one anchor per location the windows hold 25 and 65 locations, with
    nine anchors per location both are the 3 x 3 block.
    """
    block = math.ceil(math.sqrt(num_locations))

    def compact(q: int, p: int) -> bool:
        gap_q, gap_p = max(abs(q) - 0.5, 0.0), max(abs(p) - 0.5, 0.0)
        return gap_q * gap_q + gap_p * gap_p <= block * block / 2

    def complete(q: int, p: int) -> bool:
        q, p = abs(q), abs(p)
        if p <= 1 and q <= 1:
            return True
        if p >= 2 and q >= 2:
            return (p + 1) * (q + 1) - 1 < num_locations
        if p >= 2:
            return p * (q + 1) < num_locations
        return q * (p + 1) < num_locations

    radius = max(num_locations, block) + 1
    return _with_frontier(compact, radius), _with_frontier(complete, radius)


def _axis_lower_bound(
    frontier: torch.Tensor, u: torch.Tensor, nearest: torch.Tensor, size: int
) -> torch.Tensor:
    """
    Lower bounds, in strides, on the distance along one axis between centres at grid coordinate
    ``u`` (G,) and any location whose offset from ``nearest`` (G,) is at least ``frontier`` (F,)
    in magnitude on the same side (any location of the grid for a zero offset). Returns (G, F).
    """
    t = (u - nearest)[:, None]
    beyond = torch.where(frontier > 0, frontier - t, frontier.abs() + t)
    anywhere = torch.maximum(-u, u - (size - 1))[:, None]
    return torch.where(frontier == 0, anywhere, beyond).clamp(min=0)


def _select_in_window(
    ctrs: torch.Tensor,
    grid: AnchorGrid,
    centers: torch.Tensor,
    topk: int,
    window: Offsets,
    frontier: Offsets,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    The ``topk`` nearest anchors of each centre among those of ``window``, in the dense order:
    (G, topk) indices into the level, and (G,) whether they are proven to be the nearest of the
    whole level.
    """
    device = centers.device
    window = torch.tensor(window, device=device)
    frontier = torch.tensor(frontier, device=device)
    num_cell = grid.num_cell_anchors

    # Grid coordinates (x, y) of the centres and their nearest location, in float64 so that the
    # bound below is not weakened by rounding.
    u = (centers.double() - centers.new_tensor(grid.origin, dtype=torch.float64)) / (
        centers.new_tensor(grid.stride, dtype=torch.float64)
    )
    sizes = torch.tensor([grid.width, grid.height], device=device)
    nearest = torch.minimum(u.round().clamp(min=0), sizes - 1).long()

    rows = nearest[:, 1:] + window[:, 0]  # (G, W)
    cols = nearest[:, :1] + window[:, 1]
    rows_in, cols_in = rows.clamp(0, grid.height - 1), cols.clamp(0, grid.width - 1)
    valid = (rows_in == rows) & (cols_in == cols)
    idx = rows_in * grid.width + cols_in
    if num_cell > 1:
        cell = torch.arange(num_cell, device=device)
        idx = (idx[:, :, None] * num_cell + cell).flatten(1)  # (G, W * A)
        valid = valid[:, :, None].expand(-1, -1, num_cell).flatten(1)

    # Valid window entries are in increasing anchor order, so ordering by (distance, position in
    # the window) is the dense selection's (distance, anchor index) order.
    window_ctrs = ctrs.index_select(0, idx.flatten()).view(*idx.shape, 2)
    dist = _center_distances(window_ctrs, centers[:, None])
    if dist.dtype == torch.float64:
        dist, order = dist.masked_fill(~valid, math.inf).sort(dim=1, stable=True)
        order, kth = order[:, :topk], dist[:, topk - 1]
    else:
        # The bits of a non-negative float32 order like its value: (distance, position) packs
        # into one int64 key, and a top-k (cheaper than a stable sort) returns them in order.
        bits = dist.float().view(torch.int32).to(torch.int64).masked_fill(~valid, _INF_BITS)
        position = torch.arange(dist.shape[1], device=device)
        keys, order = ((bits << 32) | position).topk(topk, dim=1, largest=False)
        kth = (keys[:, -1] >> 32).to(torch.int32).view(torch.float32)
    selected = idx.gather(1, order)

    # Proof of exactness: every anchor outside the window lies in the region of a frontier
    # offset, whose distance bound (less the centres' deviation from the grid) must exceed the
    # k-th distance selected, with room for the float rounding of the distances themselves.
    bound_x = _axis_lower_bound(frontier[:, 1], u[:, 0], nearest[:, 0], grid.width)
    bound_y = _axis_lower_bound(frontier[:, 0], u[:, 1], nearest[:, 1], grid.height)
    gap_x = (bound_x * abs(grid.stride[0]) - grid.deviation[0]).clamp(min=0)
    gap_y = (bound_y * abs(grid.stride[1]) - grid.deviation[1]).clamp(min=0)
    frontier_rows = nearest[:, 1:] + frontier[:, 0]
    frontier_cols = nearest[:, :1] + frontier[:, 1]
    exists = (frontier_rows >= 0) & (frontier_rows < grid.height)
    exists &= (frontier_cols >= 0) & (frontier_cols < grid.width)
    outside_sq = (gap_x * gap_x + gap_y * gap_y).masked_fill(~exists, math.inf).amin(dim=1)
    margin = 1.0 - 4 * torch.finfo(dist.dtype).eps
    kth = kth.double()
    return selected, kth * kth < outside_sq * (margin * margin)


def _level_candidates(
    anchors: torch.Tensor, centers: torch.Tensor, topk: int
) -> Optional[torch.Tensor]:
    """
    The dense selection on one level (``topk < len(anchors)``) through its grid: (G, topk)
    indices into ``anchors``, or None when the anchors are no grid or exactness is not proven.
    """
    ctrs = anchor_centers(anchors)
    grid = _read_grid(ctrs)
    if grid is None:
        return None
    compact, complete = _windows(math.ceil(topk / grid.num_cell_anchors))
    selected, proven = _select_in_window(ctrs, grid, centers, topk, *compact)
    if bool(proven.all()):
        return selected
    if compact == complete:
        return None
    # Centres near the border or outside the image: again with the complete window.
    redo = (~proven).nonzero()[:, 0]
    selected[redo], proven = _select_in_window(ctrs, grid, centers[redo], topk, *complete)
    return selected if bool(proven.all()) else None


def grid_topk_candidates(
    anchors_per_level: List[torch.Tensor], centers: torch.Tensor, topk: int
) -> Optional[torch.Tensor]:
    """
    Per level, the ``min(topk, A_l)`` anchors whose centres are nearest to each centre (ATSS
    Algorithm 1, lines 3-6), identical to the dense ``atss.assignment.topk_nearest_candidates``
    but in O(A + G * k * L) time and memory.

    Args:
        anchors_per_level: L tensors (A_l, 4), XYXY, each laid out as detectron2's
            ``DefaultAnchorGenerator`` lays them out (row-major locations, then cell anchors).
        centers: (G, 2) ground-truth centres (x, y), any count, e.g. all of a batch.
        topk: k of the paper (Section 3.3: 9).

    Returns:
        (G, sum_l min(topk, A_l)) global anchor indices (levels concatenated in order), level by
        level, within a level ordered by (distance, anchor index); or None when a level with more
        than ``topk`` anchors is not a grid, or when exactness cannot be proven for some centre
        (only for centres thousands of strides away from the image), for the dense path to run.
    """
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int, got {topk!r}")
    if centers.dim() != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must have shape (G, 2), got {tuple(centers.shape)}")
    if not bool(torch.isfinite(centers).all()):
        raise ValueError("centers must be finite")
    for level, anchors in enumerate(anchors_per_level):
        if anchors.dim() != 2 or anchors.shape[1] != 4:
            raise ValueError(
                f"anchors of level {level} must have shape (A_l, 4), got {tuple(anchors.shape)}"
            )

    candidates = []
    start = 0
    for anchors in anchors_per_level:
        num = anchors.shape[0]
        if num <= topk:
            # The whole level is taken; only its order remains to be found.
            dist = _center_distances(anchor_centers(anchors)[None], centers[:, None])
            selected = dist.sort(dim=1, stable=True)[1]
        else:
            selected = _level_candidates(anchors, centers, topk)
            if selected is None:
                return None
        candidates.append(selected + start)
        start += num
    if not candidates:
        return centers.new_zeros((centers.shape[0], 0), dtype=torch.long)
    return torch.cat(candidates, dim=1)
