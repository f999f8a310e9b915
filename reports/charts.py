"""The report's charts, drawn on the server with matplotlib's Agg canvas (no display, no pyplot
state: each chart is its own Figure, so concurrent reports do not share anything) into PNG data
URIs the HTML and the PDF embed. Charts carry numbers and units only; their titles and legends
are the template's, so they need no CJK font.

matplotlib is imported inside the functions: the API's import time must not pay for it.

Must not: compute clinical figures (reports.agp, bp and vitals do) or read the database.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from reports._clock import DAY_S, HOUR_S, day_date
from reports.agp import DayProfile, ModalDay
from reports.bp import HOME_DIASTOLIC_TARGET, HOME_SYSTOLIC_TARGET

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 120  # about the resolution of the chart's width on A4 (18 cm, 7 in)
GLUCOSE_YLIM = (40.0, 400.0)
TARGET = (70.0, 180.0)
BAND_OUTER, BAND_INNER, MEDIAN = "#bcd4ec", "#5b8fc7", "#1d3f72"
TARGET_COLOUR, LIMIT_COLOUR = "#2e8b57", "#c0392b"


def _figure(width_in: float, height_in: float, rows: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    # fixed margins (in inches, whatever the height): constrained layout costs a third of a chart
    fig.subplots_adjust(left=0.55 / width_in, right=1 - 0.25 / width_in,
                        bottom=0.3 / height_in, top=1 - 0.08 / height_in,
                        hspace=0.35 * rows / height_in)  # fmt: skip
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#e5e5e5", linewidth=0.5)
        ax.set_axisbelow(True)
    return fig, list(axes)


def _data_uri(fig: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _clock_axis(ax: Axes) -> None:
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3), [f"{h:02d}:00" for h in range(0, 25, 3)])


def _date_axis(ax: Axes, first_day: int, last_day: int) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_xlim(first_day, last_day + 1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: day_date(int(x)).strftime("%m-%d")))


def agp_chart(m: ModalDay) -> str:
    """The modal day: 5–95 and 25–75 percentile bands, the median, the 70–180 target lines."""
    fig, (ax,) = _figure(7.0, 2.6)
    hours = (np.arange(m.values.shape[1]) + 0.5) * m.bin_s / HOUR_S
    p5, p25, p50, p75, p95 = m.values
    ax.fill_between(hours, p5, p95, color=BAND_OUTER, linewidth=0)
    ax.fill_between(hours, p25, p75, color=BAND_INNER, linewidth=0)
    ax.plot(hours, p50, color=MEDIAN, linewidth=1.6)
    _glucose_by_clock(ax)
    return _data_uri(fig)


def _glucose_by_clock(ax: Axes) -> None:
    """The target lines, the glucose range in mg/dL and a 24 h clock axis."""
    for y in TARGET:
        ax.axhline(y, color=TARGET_COLOUR, linewidth=1.0)
    ax.set_ylim(*GLUCOSE_YLIM)
    ax.set_ylabel("mg/dL", fontsize=7)
    _clock_axis(ax)


def daily_chart(days: Sequence[DayProfile]) -> str:
    """Daily profiles: one panel per day, seven to a row, the target band shaded."""
    rows = max(1, -(-len(days) // 7))
    fig, axes = _figure(7.0, 1.35 * rows, rows)
    for row, ax in enumerate(axes):
        week = days[row * 7 : row * 7 + 7]
        ax.axhspan(*TARGET, color="#e3f1e8", linewidth=0)
        for i, d in enumerate(week):
            ax.plot(i + d.clock_s / DAY_S, d.mg_dl, color=MEDIAN, linewidth=0.7)
            ax.axvline(i, color="#999999", linewidth=0.5)
        ax.set_xlim(0, 7)
        ax.set_xticks([i + 0.5 for i in range(len(week))],
                      [day_date(d.day).strftime("%m-%d") for d in week])  # fmt: skip
        ax.tick_params(axis="x", length=0)
        ax.grid(False)
        ax.set_ylim(*GLUCOSE_YLIM)
        ax.set_yticks([70, 180, 250])
    return _data_uri(fig)


def meter_chart(clock_s: np.ndarray, mg_dl: np.ndarray, slot_edges_h: Sequence[int]) -> str:
    """Meter readings by time of day, the slots' edges and the target lines."""
    fig, (ax,) = _figure(7.0, 2.2)
    ax.scatter(clock_s / HOUR_S, mg_dl, s=6, color=MEDIAN)
    for h in slot_edges_h:
        ax.axvline(h, color="#999999", linewidth=0.5, linestyle=":")
    _glucose_by_clock(ax)
    return _data_uri(fig)


def bp_chart(day_x: np.ndarray, systolic: np.ndarray, diastolic: np.ndarray,
             first_day: int, last_day: int) -> str:  # fmt: skip
    """Systolic and diastolic over the period (x: local day number with the fraction of day),
    with the ESH home limits 135 and 85 mmHg."""
    fig, (ax,) = _figure(7.0, 2.4)
    ax.plot(day_x, systolic, "^-", color="#8e2c2c", markersize=2.5, linewidth=0.6)
    ax.plot(day_x, diastolic, "v-", color="#2c538e", markersize=2.5, linewidth=0.6)
    for y in (HOME_SYSTOLIC_TARGET, HOME_DIASTOLIC_TARGET):
        ax.axhline(y, color=LIMIT_COLOUR, linewidth=1.0, linestyle="--")
    lo = min(60.0, float(np.min(diastolic)) - 5)
    hi = max(160.0, float(np.max(systolic)) + 5)
    ax.set_ylim(lo, hi)
    ax.set_ylabel("mmHg", fontsize=7)
    _date_axis(ax, first_day, last_day)
    return _data_uri(fig)


def weight_chart(day_x: np.ndarray, kg: np.ndarray, flagged: np.ndarray,
                 first_day: int, last_day: int) -> str:  # fmt: skip
    """Weight over the period; readings meeting the heart-failure gain rule in red."""
    fig, (ax,) = _figure(7.0, 1.9)
    ax.plot(day_x, kg, "o-", color=MEDIAN, markersize=2.5, linewidth=0.7)
    if flagged.any():
        ax.plot(day_x[flagged], kg[flagged], "o", color=LIMIT_COLOUR, markersize=4.5)
    pad = max(1.0, float(np.ptp(kg)) * 0.2)
    ax.set_ylim(float(np.min(kg)) - pad, float(np.max(kg)) + pad)
    ax.set_ylabel("kg", fontsize=7)
    _date_axis(ax, first_day, last_day)
    return _data_uri(fig)
