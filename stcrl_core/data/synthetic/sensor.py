"""Acquisitions: how one capture turns a drawn scene into an image.

In xBD every tile of an event shares its pre-disaster capture and its
post-disaster capture (same sensor, sun, off-nadir angle), which differ from
each other by sensor, season and geometry: sun azimuth and elevation set the
shadows, the off-nadir angle makes roofs lean away from the sensor (parallax)
and softens the image, and the colour balance, haze, noise, compression and a
few pixels of misregistration differ. So the conditions are drawn once per
event and phase, with small per-tile variations.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, map_coordinates

from stcrl_core.data.synthetic.textures import grain, value_noise

SENSORS = {  # name: (multispectral GSD at nadir in m, sharpness)
    "WORLDVIEW02": (1.85, 1.0),
    "WORLDVIEW03_VNIR": (1.24, 1.1),
    "GEOEYE01": (1.65, 0.95),
    "QUICKBIRD02": (2.4, 0.8),
}
HAZE_COLOR = np.array([180, 184, 188], np.float32)
# xBD's pansharpened products are warm: over the whole dataset the crops' mean colour
# is (0.393, 0.406, 0.327) (the ST-CRL public code's normalisation), blue about 0.83
# of red, and so are the six real scenes in ../shared/data (0.80); the generator's
# scenes came out bluer (0.88), so every capture has the products' blue response
PRODUCT_BALANCE = np.array([1.0, 1.0, 0.93], np.float32)


@dataclass(frozen=True)
class Acquisition:
    """Conditions of one capture (all angles in degrees)."""

    sensor: str
    sun_azimuth: float
    sun_elevation: float
    off_nadir: float
    target_azimuth: float
    gain: tuple[float, float, float]
    gamma: float
    saturation: float
    haze: float
    vegetation: float  # season: saturation of lawns and leaves (1 = as drawn)
    blur: float  # Gaussian sigma in pixels
    noise: float  # grey levels of correlated sensor noise
    jpeg_quality: int
    shift: tuple[float, float]  # misregistration in pixels (x, y)
    noise_seed: int
    warp: float = 0.0  # amplitude (px) of the smooth, spatially varying part of the misregistration

    @property
    def multispectral_gsd(self) -> float:
        """What xBD's ``metadata.gsd`` reports: the multispectral GSD at this angle."""
        nadir, _ = SENSORS[self.sensor]
        return nadir / math.cos(math.radians(self.off_nadir)) ** 1.5

    def shadow_vector(self, pitch_m: float) -> np.ndarray:
        """Image offset (px) of a shadow per metre of height: away from the sun."""
        az, el = math.radians(self.sun_azimuth), math.radians(self.sun_elevation)
        return np.array([-math.sin(az), math.cos(az)]) / math.tan(el) / pitch_m

    def sun_vector(self) -> tuple[float, float]:
        """Unit vector towards the sun in image coordinates (x east, y south)."""
        az = math.radians(self.sun_azimuth)
        return math.sin(az), -math.cos(az)

    def lean_vector(self, pitch_m: float) -> np.ndarray:
        """Image offset (px) of a roof per metre of height: away from the sensor."""
        az = math.radians(self.target_azimuth + 180.0)
        return (
            np.array([math.sin(az), -math.cos(az)])
            * math.tan(math.radians(self.off_nadir))
            / pitch_m
        )


@dataclass(frozen=True)
class CaptureGeometry:
    """The geometry of a real capture (from its xBD metadata)."""

    sensor: str
    off_nadir: float
    target_azimuth: float
    sun_azimuth: float
    sun_elevation: float


def draw_acquisition(
    rng: np.random.Generator, lat: float, post: bool, geometry: CaptureGeometry | None = None
) -> Acquisition:
    """One event phase's capture conditions; ``geometry`` fixes sensor and angles."""
    sensor = list(SENSORS)[int(rng.integers(len(SENSORS) - (0 if not post else 1)))]
    off_nadir = float(rng.uniform(8, 35) if post else rng.uniform(5, 25))
    target_azimuth = float(rng.uniform(0, 360))
    sun_azimuth = float(rng.uniform(110, 250) if lat >= 0 else rng.uniform(-70, 70) % 360)
    sun_elevation = float(rng.uniform(35, 75))
    if geometry is not None:
        sensor, off_nadir = geometry.sensor, geometry.off_nadir
        target_azimuth, sun_azimuth = geometry.target_azimuth, geometry.sun_azimuth
        sun_elevation = geometry.sun_elevation
    _, sharpness = SENSORS[sensor]
    return Acquisition(
        sensor=sensor,
        sun_azimuth=sun_azimuth,
        sun_elevation=sun_elevation,
        off_nadir=off_nadir,
        target_azimuth=target_azimuth,
        gain=tuple(float(g) for g in rng.uniform(0.92, 1.08, 3)),
        # the real captures of one event's two phases differ by a few grey levels only
        # (pre/post centre brightness of undamaged buildings: +5, +1, -2 on the real
        # Joplin, Mexico City and Guatemala scenes), so the tone curve varies little
        gamma=float(rng.uniform(0.93, 1.07)),
        saturation=float(rng.uniform(0.8, 1.15)),
        haze=float(rng.uniform(0.0, 0.15)),
        vegetation=float(rng.uniform(0.75, 1.2)),
        blur=float((0.2 + 0.015 * off_nadir) / sharpness * rng.uniform(0.8, 1.25)),
        noise=float(rng.uniform(1.5, 3.5)),
        jpeg_quality=int(rng.integers(70, 93)),
        # xBD's post captures sit a few pixels off their pre captures (2-11 px measured on
        # the real sample), by an amount that drifts across a tile (terrain, parallax)
        shift=tuple(float(v) for v in rng.normal(0, 5.0, 2)) if post else (0.0, 0.0),
        noise_seed=0,
        warp=float(rng.uniform(0.5, 3.0)) if post else 0.0,
    )


def for_tile(acq: Acquisition, rng: np.random.Generator, misregistered: bool) -> Acquisition:
    """The event phase's capture with a tile's small variations (and its own noise)."""
    return replace(
        acq,
        haze=float(np.clip(acq.haze + rng.normal(0, 0.02), 0, 0.35)),
        gain=tuple(float(g * rng.uniform(0.98, 1.02)) for g in acq.gain),
        shift=tuple(float(s + d) for s, d in zip(acq.shift, rng.normal(0, 1.0, 2), strict=True))
        if misregistered
        else (0.0, 0.0),
        noise_seed=int(rng.integers(2**31)),
    )


def _misregister(img: np.ndarray, acq: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """Shift the image by ``acq.shift`` plus a smooth displacement field of ``acq.warp`` px."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = acq.shift[0] + acq.warp * (value_noise(rng, (h, w), 3) - 0.5) * 2
    dy = acq.shift[1] + acq.warp * (value_noise(rng, (h, w), 3) - 0.5) * 2
    coords = np.stack([yy - dy, xx - dx])
    return np.stack(
        [
            map_coordinates(img[..., c], coords, order=1, mode="nearest")
            for c in range(img.shape[2])
        ],
        axis=2,
    )


def acquire(img: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Colour balance, haze, optics, misregistration, noise and compression of one capture."""
    rng = np.random.default_rng(acq.noise_seed)
    out = np.clip(img * (np.array(acq.gain, np.float32) * PRODUCT_BALANCE), 0, 255)
    out = 255.0 * (out / 255.0) ** acq.gamma
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * acq.saturation
    out = out * (1 - acq.haze) + HAZE_COLOR * acq.haze
    if acq.blur > 0.3:
        out = gaussian_filter(out, (acq.blur, acq.blur, 0))
    if acq.shift != (0.0, 0.0) or acq.warp > 0:
        out = _misregister(out, acq, rng)
    out += acq.noise * grain(rng, out.shape[:2], 0.7)[..., None]
    out += rng.normal(0, 1.0, out.shape).astype(np.float32)
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=acq.jpeg_quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))
