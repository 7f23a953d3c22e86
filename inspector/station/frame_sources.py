"""Camera part sources (GenICam via harvesters, OpenCV camera N): frames spooled as PNG parts.

Each acquired frame is written atomically to a spool folder and handed to the run loop as a Part,
exactly like a hot-folder file, so every judged frame is on disk next to its log row (done/ or
error/). A source that stops delivering raises SourceLost; the run loop raises ALARM and calls
`reconnect()` with a growing back-off.
"""
from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np

from inspector.io.images import save_image
from inspector.station.hotfolder import HotFolder, Part
from inspector.types import InspectorError


class SourceLost(InspectorError):
    """The camera or transport layer stopped delivering frames."""


def rgb_from_components(data: np.ndarray, width: int, height: int, channels: int) -> np.ndarray:
    """A GenICam buffer (Mono8, RGB8, RGBa8) as an RGB uint8 (H, W, 3) copy (the buffer is reused)."""
    if data.dtype != np.uint8 or data.size != width * height * channels:
        raise SourceLost(f"unexpected frame buffer: {data.size} {data.dtype} for {width}x{height}x{channels}")
    pixels = data.reshape(height, width, channels) if channels > 1 else data.reshape(height, width, 1)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2).copy()
    return np.ascontiguousarray(pixels[:, :, :3])


class _SpooledSource:
    """Frames -> PNG files in `spool_dir`; finishing a part moves it like the hot folder does."""

    def __init__(self, spool_dir: str | Path) -> None:
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._folder = HotFolder(self.spool_dir, settle_s=0.0)
        self._session = time.strftime("%Y%m%d-%H%M%S")

    def _spool(self, image: np.ndarray, frame_id: int) -> Part:
        part_id = f"{self._session}-{frame_id:08d}"
        path = self.spool_dir / f"{part_id}.png"
        save_image(path, image)
        return Part(part_id=part_id, path=path)

    def destination(self, part: Part, ok: bool = True) -> Path:
        return self._folder.destination(part, ok)

    def finish(self, part: Part, ok: bool = True, target: Optional[Path] = None) -> Path:
        return self._folder.finish(part, ok, target)


def find_cti(cti: Optional[str]) -> Path:
    """The GenTL producer: the given file, or the first *.cti on GENICAM_GENTL64_PATH."""
    if cti:
        path = Path(cti)
        if not path.is_file():
            raise InspectorError(f"GenTL producer not found: {path}")
        return path
    for folder in os.environ.get("GENICAM_GENTL64_PATH", "").split(os.pathsep):
        found = sorted(glob.glob(os.path.join(folder, "*.cti"))) if folder else []
        if found:
            return Path(found[0])
    raise InspectorError("no GenTL producer: use --source genicam:/path/to/producer.cti or set GENICAM_GENTL64_PATH")


def bundled_producer() -> Optional[Path]:
    """The software GenTL producer shipped in the `genicam` wheel (viky.cti: virtual cameras), if installed."""
    try:
        import genicam
    except ImportError:
        return None
    path = Path(genicam.__file__).parent / "viky.cti"
    return path if path.is_file() else None


def list_genicam_devices(cti: Optional[str]) -> list[str]:
    """The devices a GenTL producer enumerates, as 'model (serial), vendor' in device-index order."""
    try:
        from harvesters.core import Harvester
    except ImportError:
        raise InspectorError("GenICam needs the 'camera' extra: pip install 'inspector[camera]'") from None
    harvester = Harvester()
    try:
        harvester.add_file(str(find_cti(cti)))
        harvester.update()
        return [f"{info.model} ({info.serial_number}), {info.vendor}" for info in harvester.device_info_list]
    except InspectorError:
        raise
    except Exception as exc:
        raise InspectorError(f"cannot list GenICam devices: {exc}") from exc
    finally:
        harvester.reset()


class GenicamSource(_SpooledSource):
    """Free-running acquisition from the first (or `device_index`) GenICam device of a GenTL producer."""

    def __init__(self, cti: Optional[str], spool_dir: str | Path, device_index: int = 0,
                 fetch_timeout_s: float = 0.5) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError:
            raise InspectorError("GenICam needs the 'camera' extra: pip install 'inspector[camera]'") from None
        super().__init__(spool_dir)
        self._harvester_class = Harvester
        self.cti, self.device_index, self.fetch_timeout_s = find_cti(cti), device_index, fetch_timeout_s
        self._harvester = self._acquirer = None
        self._counter = 0
        self.reconnect()

    def reconnect(self) -> None:
        self.close()
        try:
            self._harvester = self._harvester_class()
            self._harvester.add_file(str(self.cti))
            self._harvester.update()
            if len(self._harvester.device_info_list) <= self.device_index:
                raise SourceLost(f"no GenICam device {self.device_index} on {self.cti.name}")
            self._acquirer = self._harvester.create(self.device_index)
            self._acquirer.start()
        except SourceLost:
            raise
        except Exception as exc:
            raise SourceLost(f"GenICam device not available: {exc}") from exc

    def poll(self) -> list[Part]:
        if self._acquirer is None:
            raise SourceLost("GenICam device not connected")
        try:
            with self._acquirer.fetch(timeout=self.fetch_timeout_s) as buffer:
                component = buffer.payload.components[0]
                image = rgb_from_components(component.data, int(component.width), int(component.height),
                                            int(component.num_components_per_pixel))
                try:
                    frame_id = int(buffer.frame_id)
                except Exception:  # not every producer reports frame ids: count frames ourselves
                    frame_id = self._counter + 1
        except SourceLost:
            raise
        except Exception as exc:
            if type(exc).__name__ == "TimeoutException":
                return []  # no frame this time: waiting for a part, not an alarm
            raise SourceLost(f"GenICam acquisition failed: {exc}") from exc
        self._counter += 1
        return [self._spool(image, frame_id)]

    def close(self) -> None:
        if self._acquirer is not None:
            try:
                self._acquirer.stop()
                self._acquirer.destroy()
            except Exception:
                pass
            self._acquirer = None
        if self._harvester is not None:
            self._harvester.reset()
            self._harvester = None


class CameraSource(_SpooledSource):
    """An OpenCV camera (index N): one frame per poll, a counter as part id."""

    def __init__(self, index: int, spool_dir: str | Path) -> None:
        super().__init__(spool_dir)
        self.index = index
        self._capture = None
        self._counter = 0
        self.reconnect()

    def reconnect(self) -> None:
        import cv2

        self.close()
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            raise SourceLost(f"camera {self.index} cannot be opened")
        self._capture = capture

    def poll(self) -> list[Part]:
        import cv2

        if self._capture is None:
            raise SourceLost(f"camera {self.index} not connected")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceLost(f"camera {self.index} delivered no frame")
        self._counter += 1
        return [self._spool(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self._counter)]

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
