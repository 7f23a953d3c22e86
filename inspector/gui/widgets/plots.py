"""The plots the pages share: a fixed (no pan, zoom or menu) pyqtgraph plot and a filled step histogram.

One home, so the working-point histogram, the review page's score distribution and the policy
check look and behave alike.
"""
from __future__ import annotations

import pyqtgraph as pg


def fixed_plot(bottom_label: str, left_label: str) -> pg.PlotWidget:
    """A white plot the user cannot pan, zoom or open a menu on (the pages drive its view)."""
    plot = pg.PlotWidget(background="w")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setLabel("bottom", bottom_label)
    plot.setLabel("left", left_label)
    return plot


def histogram_curve(color: tuple[int, int, int], fill_alpha: int = 110, **options) -> pg.PlotDataItem:
    """A filled step histogram in `color` (set its data with `setData(edges, counts)`)."""
    return pg.PlotDataItem(stepMode="center", fillLevel=0, fillOutline=True, brush=(*color, fill_alpha),
                           pen=pg.mkPen(color, width=1.5), **options)
