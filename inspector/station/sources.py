"""One way to open a part source from a spec, for the CLI (`--source`) and the app's Run page.

Specs: `hotfolder:DIR`, `genicam[:CTI]` (device 0 unless `device_index` says otherwise) and
`camera:N` (OpenCV). Camera frames are spooled as PNG parts under `spool_dir`.
"""
from __future__ import annotations

from pathlib import Path

from inspector.types import InspectorError


def open_source(spec: str, spool_dir: Path, device_index: int = 0, settle_s: float = 0.2):
    """The part source named by `spec` (all share poll / finish / destination, cameras add reconnect)."""
    kind, _, value = spec.partition(":")
    if kind == "hotfolder" and value:
        from inspector.station.hotfolder import HotFolder

        return HotFolder(value, settle_s=settle_s)
    if kind == "genicam":
        from inspector.station.frame_sources import GenicamSource

        return GenicamSource(value or None, spool_dir, device_index=device_index)
    if kind == "camera" and value.isdigit():
        from inspector.station.frame_sources import CameraSource

        return CameraSource(int(value), spool_dir)
    raise InspectorError(f"bad --source '{spec}': use hotfolder:DIR, genicam[:CTI] or camera:N")
