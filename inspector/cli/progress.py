"""A tqdm progress bar per stage, driven by the engine's Reporter callback."""
from __future__ import annotations

import sys
from typing import Optional

from tqdm import tqdm

from inspector.store.safe_output import terminal_text
from inspector.types import Progress, Reporter


class StageProgressBar:
    """Shows one bar per stage (augment, extract, refine, fit, calibrate...) on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None
        self._bar: Optional[tqdm] = None
        self._stage = ""

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if progress.stage != self._stage or self._bar is None or (progress.total and self._bar.total != progress.total):
            self.close()
            self._stage = progress.stage
            self._bar = tqdm(total=progress.total or None, desc=f"{progress.stage:<9}", unit="step",
                             leave=False, dynamic_ncols=True, file=sys.stderr)
        self._bar.n = progress.done
        if progress.message:
            self._bar.set_postfix_str(terminal_text(progress.message)[:60], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def reporter(self) -> Reporter:
        return Reporter(self)
