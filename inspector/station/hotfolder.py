"""Hot-folder part source: each file is picked up once, only when completely written.

A file counts as complete when its size and mtime have not changed for `settle_s` seconds.
After judging, the caller moves it to `done/` (or `error/`), so a restart never judges a part
twice and never skips one that was not finished. The part id is the file name's stem.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from inspector.types import InspectorError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Part:
    """One part waiting to be judged: its id and the file that holds its image."""

    part_id: str
    path: Path


class HotFolder:
    """Watch a folder; yield complete image files in name order, each once."""

    def __init__(self, folder: str | Path, settle_s: float = 0.2) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InspectorError(f"hot folder not found: {self.folder}")
        self.settle_s = settle_s
        self.done_dir = self.folder / "done"
        self.error_dir = self.folder / "error"
        self.done_dir.mkdir(exist_ok=True)
        self.error_dir.mkdir(exist_ok=True)
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def poll(self) -> list[Part]:
        """Complete files not yet handed out, oldest name first."""
        now = time.monotonic()
        ready: list[Part] = []
        for entry in sorted(os.scandir(self.folder), key=lambda e: e.name):
            path = Path(entry.path)
            if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            stat = entry.stat(follow_symlinks=False)
            signature = (stat.st_size, stat.st_mtime_ns)
            previous = self._seen.get(path)
            if previous is None or previous[:2] != signature:
                self._seen[path] = (*signature, now)
                if self.settle_s > 0:
                    continue
            elif now - previous[2] < self.settle_s:
                continue
            ready.append(Part(part_id=path.stem, path=path))
        return ready

    def parts(self, idle_sleep_s: float = 0.05, stop=None) -> Iterator[Part]:
        """Yield parts forever (until `stop()` returns True)."""
        while stop is None or not stop():
            batch = self.poll()
            for part in batch:
                yield part
            if not batch:
                time.sleep(idle_sleep_s)

    def destination(self, part: Part, ok: bool = True) -> Path:
        """Where `finish` will move the part (done/ or error/, never over an earlier file)."""
        target_dir = self.done_dir if ok else self.error_dir
        target = target_dir / part.path.name
        if target.exists():
            target = target_dir / f"{part.path.stem}-{time.time_ns()}{part.path.suffix}"
        return target

    def finish(self, part: Part, ok: bool = True, target: Optional[Path] = None) -> Path:
        """Move a judged part out of the watched folder (to done/ or error/, or `target` from `destination`)."""
        target = target or self.destination(part, ok)
        os.replace(part.path, target)
        self._seen.pop(part.path, None)
        return target
