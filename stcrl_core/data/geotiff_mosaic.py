"""Mosaics of GeoTIFF tiles and the crops read from them.

The tiles of one date and one CRS are joined into a mosaic (:class:`Mosaic`, a
GDAL VRT written in memory at the finest of their resolutions), so a building
on a tile boundary is read from every tile it touches. A building's crop is a
windowed read of only the pixels it needs (:func:`read_crop`), resampled to the
crop size, boundless with zero padding where it leaves the imagery, with the
share of the window that has no data (outside every tile, or masked by a
tile's nodata, mask or alpha). Nothing reads a whole raster, so memory stays
flat in the size of the imagery.

Non-8-bit imagery (e.g. SpaceNet's 16-bit panchromatic tiles) is stretched to
8 bits between the 2nd and 98th percentile of the valid pixels of the mosaic,
sampled from a decimated read of every tile when it was inspected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape

import numpy as np

from stcrl_core.data.geotiff import STRETCH_PERCENTILES, RasterTile, crs_name

# GDAL block cache of each process that reads crops. rasterio.Env takes GDAL_CACHEMAX
# as an integer in *bytes* (GDALSetCacheMax64): 256 here meant 256 bytes, every read
# decoded its blocks again and the ingest ran ~12x slower.
GDAL_CACHE_BYTES = 256 * 1024**2
GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
              "int32": "Int32", "float32": "Float32", "float64": "Float64"}  # fmt: skip


@dataclass(frozen=True)
class Mosaic:
    """The tiles of one date in one CRS, as one raster (a VRT at the finest resolution).

    Attributes:
        phase: ``pre`` or ``post``.
        crs_wkt: The CRS shared by the tiles.
        tiles: The tiles, drawn in this order (later ones on top where they overlap).
        transform: Affine ``(a, b, c, d, e, f)`` of the mosaic's pixel grid.
        width, height: Size of the grid.
        dtype: Data type the mosaic reads as.
        stretch: Per band ``(low, high)`` mapped to 0 and 255, or None for 8-bit data.
    """

    phase: str
    crs_wkt: str
    tiles: tuple[RasterTile, ...]
    transform: tuple[float, ...]
    width: int
    height: int
    dtype: str
    stretch: tuple[tuple[float, float], ...] | None = None

    @property
    def res(self) -> float:
        """Pixel size in CRS units."""
        return self.transform[0]

    def pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel coordinates (column, row) of CRS coordinates."""
        a, _, c, _, e, f = self.transform
        return (np.asarray(x) - c) / a, (np.asarray(y) - f) / e

    def vrt_xml(self) -> str:
        """The mosaic as a GDAL VRT document (data bands and the tiles' masks)."""
        a, _, c, _, e, f = self.transform
        gdal_type = GDAL_TYPES.get(self.dtype, "Float32")

        def sources(band_of: int | None) -> str:
            parts = []
            for tile in self.tiles:
                left, bottom, right, top = tile.bounds
                dst = (
                    f'xOff="{(left - c) / a!r}" yOff="{(top - f) / e!r}" '
                    f'xSize="{(right - left) / a!r}" ySize="{(bottom - top) / e!r}"'
                )
                band = f"mask,{tile.bands[0]}" if band_of is None else str(tile.bands[band_of])
                extra = "" if band_of is None else "<UseMaskBand>true</UseMaskBand>"
                parts.append(
                    f'<ComplexSource resampling="bilinear"><SourceFilename relativeToVRT="0">'
                    f"{escape(tile.path)}</SourceFilename><SourceBand>{band}</SourceBand>"
                    f'<SrcRect xOff="0" yOff="0" xSize="{tile.width}" ySize="{tile.height}"/>'
                    f"<DstRect {dst}/>{extra}</ComplexSource>"
                )
            return "".join(parts)

        bands = "".join(
            f'<VRTRasterBand dataType="{gdal_type}" band="{i + 1}">{sources(i)}</VRTRasterBand>'
            for i in range(3)
        )
        mask = (
            f'<MaskBand><VRTRasterBand dataType="Byte">{sources(None)}</VRTRasterBand></MaskBand>'
        )
        return (
            f'<VRTDataset rasterXSize="{self.width}" rasterYSize="{self.height}">'
            f"<SRS>{escape(self.crs_wkt)}</SRS><GeoTransform>{c!r}, {a!r}, 0, {f!r}, 0, {e!r}"
            f"</GeoTransform>{bands}{mask}</VRTDataset>"
        )

    def describe(self) -> dict:
        """The mosaic as recorded in the ingest report."""
        return {
            "phase": self.phase,
            "crs": crs_name(self.crs_wkt),
            "transform": list(self.transform),
            "width": self.width,
            "height": self.height,
            "dtype": self.dtype,
            "stretch": self.stretch,
            "tiles": [t.path for t in self.tiles],
        }


def build_mosaics(phase: str, tiles: Sequence[RasterTile]) -> list[Mosaic]:
    """One mosaic per CRS among ``tiles`` (the CRS with the most tiles first).

    Tiles of one CRS share the finest of their resolutions; coarser tiles are
    resampled (bilinear) when read. Non-8-bit mosaics get an 8-bit stretch from
    their tiles' samples.
    """
    groups: dict[str, list[RasterTile]] = {}
    for tile in tiles:
        groups.setdefault(tile.crs_wkt, []).append(tile)
    mosaics = []
    for wkt, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0].path)):
        res = min(t.res for t in members)
        left = min(t.bounds[0] for t in members)
        bottom = min(t.bounds[1] for t in members)
        right = max(t.bounds[2] for t in members)
        top = max(t.bounds[3] for t in members)
        width = max(1, math.ceil((right - left) / res - 1e-6))
        height = max(1, math.ceil((top - bottom) / res - 1e-6))
        dtype = np.result_type(*(t.dtype for t in members)).name
        stretch = None
        if dtype != "uint8":
            samples = np.concatenate([t.sample for t in members if t.sample is not None], axis=1)
            stretch = _stretch_of(samples)
        members = [replace(t, sample=None) for t in members]  # samples are not carried further
        mosaics.append(
            Mosaic(
                phase,
                wkt,
                tuple(members),
                (res, 0.0, left, 0.0, -res, top),
                width,
                height,
                dtype,
                stretch,
            )
        )
    return mosaics


def _stretch_of(samples: np.ndarray) -> tuple[tuple[float, float], ...]:
    out = []
    for band in samples.astype(np.float64):
        if band.size == 0:
            out.append((0.0, 255.0))
            continue
        low, high = np.percentile(band, STRETCH_PERCENTILES)
        out.append((float(low), float(high if high > low else low + 1)))
    return tuple(out)


def to_uint8(data: np.ndarray, stretch: tuple[tuple[float, float], ...] | None) -> np.ndarray:
    """``3 x H x W`` data of a mosaic as uint8 (its stretch applied, if any)."""
    if stretch is None:
        return data.astype(np.uint8, copy=False)
    out = np.empty(data.shape, dtype=np.uint8)
    for i, (low, high) in enumerate(stretch):
        scaled = (data[i].astype(np.float32) - low) * (255.0 / (high - low)) + 0.5
        out[i] = np.clip(scaled, 0, 255).astype(np.uint8)
    return out


def open_mosaic(mosaic: Mosaic):
    """The mosaic as an open rasterio dataset (close it when done)."""
    import rasterio

    return rasterio.open(mosaic.vrt_xml())


def read_crop(
    dataset, mosaic: Mosaic, bounds: Sequence[float], crop_size: int
) -> tuple[np.ndarray, float]:
    """Read the square ``bounds`` (CRS units) of a mosaic as a ``crop_size`` RGB crop.

    Only the window's pixels are read, resampled (bilinear) to the crop size;
    where the window leaves the mosaic it is padded with zeros. Pixels without
    data (outside every tile, or masked by a tile's nodata/mask) are set to 0.

    Args:
        dataset: :func:`open_mosaic` of ``mosaic``.
        mosaic: The mosaic.
        bounds: ``(left, bottom, right, top)``.
        crop_size: Side of the crop.

    Returns:
        ``(crop, nodata_share)``: uint8 ``S x S x 3`` and the share of the crop
        without data (0 to 1).
    """
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    window = from_bounds(*bounds, transform=dataset.transform)
    inside = (
        window.col_off >= 0
        and window.row_off >= 0
        and window.col_off + window.width <= dataset.width
        and window.row_off + window.height <= dataset.height
    )
    shape = (crop_size, crop_size)
    data = dataset.read(
        window=window,
        out_shape=(3, *shape),
        resampling=Resampling.bilinear,
        boundless=not inside,
        fill_value=0,
    )
    mask = dataset.read_masks(
        1, window=window, out_shape=shape, resampling=Resampling.nearest, boundless=not inside
    )
    crop = to_uint8(data, mosaic.stretch)
    valid = mask > 0
    crop[:, ~valid] = 0
    return np.ascontiguousarray(crop.transpose(1, 2, 0)), float(1.0 - valid.mean())


def read_preview(
    dataset, mosaic: Mosaic, crs_wkt: str, transform: Sequence[float], width: int, height: int
) -> np.ndarray:
    """A mosaic warped onto another grid (a scene preview): uint8 ``H x W x 3``."""
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with WarpedVRT(
        dataset,
        crs=CRS.from_wkt(crs_wkt),
        transform=Affine(*transform[:6]),
        width=width,
        height=height,
        resampling=Resampling.bilinear,
    ) as vrt:
        data = vrt.read(indexes=[1, 2, 3])
        mask = vrt.read_masks(1)
    crop = to_uint8(data, mosaic.stretch)
    crop[:, mask == 0] = 0
    return np.ascontiguousarray(crop.transpose(1, 2, 0))
