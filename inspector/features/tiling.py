"""Tiling: overlapping tiles of a large part, encoded at backbone resolution and stitched back (issue 11).

A 3-pixel crack on a 2,448-pixel part shrinks below one feature cell when the whole image is resized
to the backbone's ~224 px. Preprocessing version 3 cuts each image into a rows x cols grid of
overlapping tiles instead, resizes each tile to the backbone input, and arranges the tiles' feature
maps as one mosaic (rows*h x cols*w): every detector stays unchanged. PaDiM's per-location Gaussians
become per-tile-position Gaussians; PatchCore and SimpleNet see more patches. A detector's map of the
mosaic is cut back into tiles and stitched into the image's frame, overlaps averaged.

This module is the one home of the tile layout: fit, inspection, the exported runtime and the GUI
all go through `TileLayout`. The layout is defined on a *canvas*, the training images' median size
(source pixels): every image is resized to the canvas first, so one model has one grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np

from inspector.features.maps import FeatureMaps, resize_map
from inspector.features.preprocess import PREPROCESSING_V2, choose_geometry, to_backbone_input
from inspector.io.images import MAX_SIDE
from inspector.types import InspectorError, Reporter

#: Share of a tile that overlaps its neighbour (at least; the grid spreads tiles evenly).
DEFAULT_OVERLAP = 0.25
#: The automatic tile size is grown until the grid has at most this many tiles (cost: tiles x backbone).
AUTO_MAX_TILES = 16
#: Record fields a resolved version 3 record fills in (None until a fit chooses them).
LAYOUT_FIELDS = ("canvas_height", "canvas_width", "tile_height", "tile_width", "rows", "cols", "height", "width")
#: Version 3: as version 2, the aspect kept, but the image is cut into overlapping tiles of
#: `tile_height` x `tile_width` canvas pixels on a `rows` x `cols` grid, each resized to `height` x
#: `width`. `tile_size` (source pixels, None: automatic) and `overlap` are what the user asked for.
PREPROCESSING_V3 = {**PREPROCESSING_V2, "version": 3, "aspect": "tiles", "tile_size": None,
                    "overlap": DEFAULT_OVERLAP, **{name: None for name in LAYOUT_FIELDS}}


@dataclass(frozen=True)
class TileLayout:
    """Where each tile sits on the canvas and what size it is fed to the backbone."""

    canvas: tuple[int, int]  # (height, width) every image is resized to first
    tile: tuple[int, int]  # (height, width) of a tile on the canvas
    grid: tuple[int, int]  # (rows, cols)
    input: tuple[int, int]  # (height, width) of each tile at the backbone
    tile_size: Optional[int] = None  # what was asked for (None: automatic)
    overlap: float = DEFAULT_OVERLAP

    @property
    def count(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def mosaic_shape(self) -> tuple[int, int]:
        """(height, width) of the mosaic of tile inputs: the geometry the detectors' maps come in."""
        return self.grid[0] * self.input[0], self.grid[1] * self.input[1]

    def starts(self) -> tuple[list[int], list[int]]:
        """Top and left canvas coordinates of the rows and columns, spread evenly, first at 0, last flush."""
        return ([int(round(v)) for v in np.linspace(0, self.canvas[0] - self.tile[0], self.grid[0])],
                [int(round(v)) for v in np.linspace(0, self.canvas[1] - self.tile[1], self.grid[1])])

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(top, left, bottom, right) of each tile on the canvas, row-major (the mosaic's order)."""
        tops, lefts = self.starts()
        return [(top, left, top + self.tile[0], left + self.tile[1]) for top in tops for left in lefts]

    def describe(self) -> str:
        """The effective resolution in words, e.g. for the Fit page."""
        return (f"{self.grid[0]} x {self.grid[1]} tiles of {self.tile[0]} x {self.tile[1]} px "
                f"(of {self.canvas[0]} x {self.canvas[1]}), each at {self.input[0]} x {self.input[1]} px")

    # -- the image side -------------------------------------------------------------------------
    def tiles(self, image: np.ndarray) -> list[np.ndarray]:
        """RGB uint8 (H, W, 3) -> the tiles, each RGB uint8 at the backbone input size."""
        canvas = _resize(image, self.canvas)
        return [_resize(canvas[top:bottom, left:right], self.input) for top, left, bottom, right in self.boxes()]

    def backbone_inputs(self, image: np.ndarray) -> np.ndarray:
        """(T, 3, h, w) float32 backbone inputs of one image's tiles (the exported runtime's path)."""
        return np.stack([to_backbone_input(tile, self.input) for tile in self.tiles(image)])

    # -- the feature side -----------------------------------------------------------------------
    def mosaic(self, level: np.ndarray) -> np.ndarray:
        """(N*T, C, h, w) tile features, T per image in row-major order -> (N, C, rows*h, cols*w)."""
        rows, cols = self.grid
        n_tiles, channels, height, width = level.shape
        if n_tiles % self.count:
            raise InspectorError(f"{n_tiles} tile feature maps are not a whole number of {self.count}-tile images.")
        grid = level.reshape(n_tiles // self.count, rows, cols, channels, height, width)
        return np.ascontiguousarray(grid.transpose(0, 3, 1, 4, 2, 5).reshape(-1, channels, rows * height, cols * width))

    def stitch(self, mosaic_map: np.ndarray) -> np.ndarray:
        """(rows*h, cols*w) map of the mosaic -> (canvas height, canvas width) map, overlaps averaged."""
        height, width = self.input
        if tuple(mosaic_map.shape) != self.mosaic_shape:
            raise InspectorError(f"A map of {mosaic_map.shape} does not fit the {self.mosaic_shape} tile mosaic.")
        total = np.zeros(self.canvas, dtype=np.float64)
        weight = np.zeros(self.canvas, dtype=np.float64)
        for index, (top, left, bottom, right) in enumerate(self.boxes()):
            row, col = divmod(index, self.grid[1])
            piece = mosaic_map[row * height:(row + 1) * height, col * width:(col + 1) * width]
            total[top:bottom, left:right] += resize_map(piece, self.tile)
            weight[top:bottom, left:right] += 1.0
        return (total / weight).astype(np.float32)

    # -- the record -----------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        return {**PREPROCESSING_V3, "tile_size": self.tile_size, "overlap": float(self.overlap),
                "canvas_height": self.canvas[0], "canvas_width": self.canvas[1], "tile_height": self.tile[0],
                "tile_width": self.tile[1], "rows": self.grid[0], "cols": self.grid[1],
                "height": self.input[0], "width": self.input[1]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TileLayout":
        record = check_tiles_record(record)
        if any(record[name] is None for name in LAYOUT_FIELDS):
            raise InspectorError("The tiling has no layout yet: a fit chooses it from the training images.")
        return cls((record["canvas_height"], record["canvas_width"]), (record["tile_height"], record["tile_width"]),
                   (record["rows"], record["cols"]), (record["height"], record["width"]), record["tile_size"],
                   float(record["overlap"]))


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize as `to_backbone_input` does (area when shrinking, linear when growing); no-op at size."""
    height, width = int(shape[0]), int(shape[1])
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    shrink = image.shape[0] > height or image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def grid_count(extent: int, tile: int, overlap: float) -> int:
    """Tiles needed along one side so that neighbours overlap by at least `overlap` of a tile."""
    if extent <= tile:
        return 1
    stride = max(1.0, tile * (1.0 - overlap))
    return int(math.ceil((extent - tile) / stride - 1e-9)) + 1


def choose_layout(shapes: Iterable[tuple[int, ...]], short_side: int, tile_size: Optional[int] = None,
                  overlap: float = DEFAULT_OVERLAP) -> TileLayout:
    """The tile layout for a model from its training images' shapes.

    The canvas is the images' median (height, width). Tiles are squares of `tile_size` canvas pixels
    (clipped to the canvas); automatically, half the canvas's short side (never under `short_side`),
    grown by 10 % steps until the grid has at most `AUTO_MAX_TILES` tiles. Each tile is fed to the
    backbone with `short_side` as its short side (`choose_geometry`).
    """
    if not 0.0 <= overlap < 0.9:
        raise InspectorError(f"The tile overlap must be in [0, 0.9), got {overlap}.")
    sizes = np.asarray([s[:2] for s in shapes if len(s) >= 2 and s[0] > 0 and s[1] > 0], dtype=float)
    if not len(sizes):
        raise InspectorError("No image sizes to choose a tile layout from.")
    canvas = tuple(int(min(MAX_SIDE, round(v))) for v in np.median(sizes, axis=0))
    if tile_size is not None:
        if int(tile_size) < 32:
            raise InspectorError(f"A tile must be at least 32 px, got {tile_size}.")
        side = int(tile_size)
    else:
        side = max(int(short_side), min(canvas) // 2)
        while side < max(canvas) and grid_count(canvas[0], min(side, canvas[0]), overlap) * \
                grid_count(canvas[1], min(side, canvas[1]), overlap) > AUTO_MAX_TILES:
            side = int(math.ceil(side * 1.1))
    tile = (min(side, canvas[0]), min(side, canvas[1]))
    grid = (grid_count(canvas[0], tile[0], overlap), grid_count(canvas[1], tile[1], overlap))
    return TileLayout(canvas, tile, grid, choose_geometry([tile], short_side), tile_size, float(overlap))


def resolve_tiles_record(record: dict[str, Any], shapes: Iterable[tuple[int, ...]], short_side: int) -> dict[str, Any]:
    """A version 3 record with its layout chosen from `shapes` when it has none yet."""
    record = check_tiles_record(record, allow_unresolved=True)
    if any(record[name] is None for name in LAYOUT_FIELDS):
        return choose_layout(shapes, short_side, record["tile_size"], float(record["overlap"])).record()
    return record


def check_tiles_record(record: dict[str, Any], allow_unresolved: bool = False) -> dict[str, Any]:
    """The version 3 record, checked field by field; refuse anything this build would not reproduce."""
    def refuse(why: str) -> InspectorError:
        return InspectorError(f"The model needs preprocessing {record}, which this version cannot apply ({why}); "
                              "update Inspector or refit the model.")

    if not isinstance(record, dict) or set(record) != set(PREPROCESSING_V3):
        raise refuse("unknown fields")
    fixed = {k: v for k, v in PREPROCESSING_V3.items() if k not in LAYOUT_FIELDS + ("tile_size", "overlap")}
    if any(record[k] != v for k, v in fixed.items()):
        raise refuse("unknown settings")
    size = record["tile_size"]
    if size is not None and (not _is_int(size) or not 32 <= size <= MAX_SIDE):
        raise refuse("tile size")
    if isinstance(record["overlap"], bool) or not isinstance(record["overlap"], (int, float)) \
            or not 0.0 <= float(record["overlap"]) < 0.9:
        raise refuse("overlap")
    values = [record[name] for name in LAYOUT_FIELDS]
    if all(v is None for v in values) and allow_unresolved:
        return dict(record)
    if not all(_is_int(v) and v >= 1 for v in values):
        raise refuse("layout")
    canvas_h, canvas_w, tile_h, tile_w, rows, cols, height, width = values
    if not (canvas_h <= MAX_SIDE and canvas_w <= MAX_SIDE and tile_h <= canvas_h and tile_w <= canvas_w
            and rows * tile_h >= canvas_h and cols * tile_w >= canvas_w and rows * cols <= 1024
            and 32 <= height <= 4096 and 32 <= width <= 4096):
        raise refuse("layout")
    return dict(record)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def map_to_image(raw_map: np.ndarray, layout: Optional[TileLayout], shape: tuple[int, int]) -> np.ndarray:
    """A detector's map (at its input geometry, or the tile mosaic) -> the image's (H, W) frame."""
    return resize_map(raw_map if layout is None else layout.stitch(raw_map), shape)


class TiledExtractor:
    """A `FeatureExtractor` for tiled models: encodes each image's tiles, returns their mosaics.

    It wraps the plain extractor at the tile's input size (`inner`), so the backbone, its runtime and
    its owner thread are the ones every other path uses.
    """

    def __init__(self, inner: Any, layout: TileLayout, config: Any) -> None:
        self.inner = inner
        self.layout = layout
        self.config = config

    def __getattr__(self, name: str) -> Any:  # runtime, device, model, spec, use_graph ...: the inner one's
        return getattr(self.inner, name)

    def _tiles(self, images: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise InspectorError(f"Expected an RGB uint8 image, got shape {image.shape} and dtype {image.dtype}.")
            yield from self.layout.tiles(image)

    def extract(self, images: Sequence[np.ndarray] | Iterable[np.ndarray], layers: Sequence[int],
                reporter: Optional[Reporter] = None, total: Optional[int] = None, stage: str = "extract") -> FeatureMaps:
        if total is None and hasattr(images, "__len__"):
            total = len(images)  # type: ignore[arg-type]
        tiles = self.inner.extract(self._tiles(images), layers, reporter, total=(total or 0) * self.layout.count,
                                   stage=stage)
        return FeatureMaps({layer: self.layout.mosaic(level) for layer, level in tiles.levels.items()},
                           self.layout.mosaic_shape)
