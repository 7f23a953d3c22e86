"""Render the application icon (a steel flange under an inspection ring) as SVG, PNG and ICO.

Why a script: the icon is our own artwork, reproducible from code like the demo images.
    .venv/bin/python packaging/make_icons.py    # writes resources/icons/inspector.{svg,png,ico}
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]

# Geometry on a 256 canvas, shared by the SVG and the raster rendering.
BG, STEEL, STEEL_DARK, ACCENT = "#1d2430", "#c4c9d0", "#7d8691", "#3ec46d"
CENTER, OUTER, BORE, BOLT_CIRCLE, BOLT = 128, 92, 32, 62, 10


def svg() -> str:
    bolts = "".join(
        f'<circle cx="{CENTER + BOLT_CIRCLE * np.cos(a):.1f}" cy="{CENTER + BOLT_CIRCLE * np.sin(a):.1f}" r="{BOLT}" fill="{BG}"/>'
        for a in np.pi / 4 + np.arange(4) * np.pi / 2)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs><linearGradient id="steel" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="#eef1f4"/><stop offset="0.5" stop-color="{STEEL}"/><stop offset="1" stop-color="{STEEL_DARK}"/>
  </linearGradient></defs>
  <rect x="8" y="8" width="240" height="240" rx="44" fill="{BG}"/>
  <circle cx="{CENTER}" cy="{CENTER}" r="{OUTER}" fill="url(#steel)" stroke="{STEEL_DARK}" stroke-width="4"/>
  <circle cx="{CENTER}" cy="{CENTER}" r="{BORE}" fill="{BG}" stroke="{STEEL_DARK}" stroke-width="4"/>
  {bolts}
  <path d="M 150 200 L 178 226 L 232 164" fill="none" stroke="{ACCENT}" stroke-width="22" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def raster(size: int = 1024) -> np.ndarray:
    """RGBA rendering at `size` (drawn at 4x the 256 geometry, then area-downsampled)."""
    k = size / 256
    shift = 4
    s = lambda v: int(round(v * k * (1 << shift)))  # noqa: E731  (sub-pixel fixed point)
    image = np.zeros((size, size, 4), np.uint8)
    cv2.rectangle(image, (int(8 * k), int(52 * k)), (int(248 * k), int(204 * k)), (*_bgr(BG), 255), -1)
    cv2.rectangle(image, (int(52 * k), int(8 * k)), (int(204 * k), int(248 * k)), (*_bgr(BG), 255), -1)
    for cx, cy in ((52, 52), (204, 52), (52, 204), (204, 204)):
        cv2.circle(image, (s(cx), s(cy)), s(44), (*_bgr(BG), 255), -1, cv2.LINE_AA, shift)
    yy, xx = np.mgrid[0:size, 0:size] / size
    gradient = np.clip((xx + yy) / 2, 0, 1)[..., None]
    light, dark = np.array(_bgr("#eef1f4"), float), np.array(_bgr(STEEL_DARK), float)
    steel = (light * (1 - gradient) + dark * gradient).astype(np.uint8)
    disc = np.zeros((size, size), np.uint8)
    cv2.circle(disc, (s(CENTER), s(CENTER)), s(OUTER), 255, -1, cv2.LINE_AA, shift)
    alpha = disc[..., None] / 255.0
    image[..., :3] = (image[..., :3] * (1 - alpha) + steel * alpha).astype(np.uint8)
    cv2.circle(image, (s(CENTER), s(CENTER)), s(OUTER), (*_bgr(STEEL_DARK), 255), int(4 * k), cv2.LINE_AA, shift)
    cv2.circle(image, (s(CENTER), s(CENTER)), s(BORE), (*_bgr(BG), 255), -1, cv2.LINE_AA, shift)
    cv2.circle(image, (s(CENTER), s(CENTER)), s(BORE), (*_bgr(STEEL_DARK), 255), int(4 * k), cv2.LINE_AA, shift)
    for a in np.pi / 4 + np.arange(4) * np.pi / 2:
        centre = (s(CENTER + BOLT_CIRCLE * np.cos(a)), s(CENTER + BOLT_CIRCLE * np.sin(a)))
        cv2.circle(image, centre, s(BOLT), (*_bgr(BG), 255), -1, cv2.LINE_AA, shift)
    tick = np.array([[150, 200], [178, 226], [232, 164]], float) * k * (1 << shift)
    cv2.polylines(image, [tick.round().astype(np.int32)], False, (*_bgr(ACCENT), 255), int(22 * k), cv2.LINE_AA, shift)
    for point in tick:
        cv2.circle(image, tuple(point.round().astype(int)), s(11), (*_bgr(ACCENT), 255), -1, cv2.LINE_AA, shift)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "inspector.svg").write_text(svg(), encoding="utf-8")
    big = Image.fromarray(raster(1024), "RGBA")
    big.resize((256, 256), Image.LANCZOS).save(OUT / "inspector.png", optimize=True)
    big.resize((256, 256), Image.LANCZOS).save(OUT / "inspector.ico", sizes=[(n, n) for n in ICO_SIZES])
    print(f"wrote {OUT}/inspector.svg, inspector.png, inspector.ico")
    return 0


if __name__ == "__main__":
    sys.exit(main())
