"""Charts drawn on the server as SVG (no script, no style attribute: colours are classes of
admin.css): a sparkline for a trend of one point a day, and a bar chart with axes, dates and values.
Labels come formatted from the caller (money and dates are the template's and the locale's business)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from markupsafe import escape


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 32) -> str:
    """A small line with its area, one point a value; decorative (the figure is written beside it)."""
    if not values:
        return ""
    peak = max(max(values), 1)
    step = width / max(len(values) - 1, 1)
    points = [(i * step, height - 2 - (height - 4) * v / peak) for i, v in enumerate(values)]
    if len(points) == 1:
        points.append((width, points[0][1]))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"0,{height} {line} {points[-1][0]:.1f},{height}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" aria-hidden="true" focusable="false">'
        f'<polygon class="spark-area" points="{area}"/>'
        f'<polyline class="spark-line" points="{line}" vector-effect="non-scaling-stroke"/></svg>'
    )


def nice_step(peak: int, ticks: int = 4, *, unit: int = 100) -> int:
    """A round step (1, 2 or 5 times a power of ten, in whole reais; in whole units with `unit=1`,
    for counts) for about `ticks` gridlines."""
    raw = max(peak / ticks, unit)
    power = unit
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


def bar_chart(
    days: Sequence[dt.date],
    series: dict[str, Sequence[int]],
    *,
    name: str,
    value_label: Callable[[int], str],
    day_label: Callable[[dt.date], str],
    series_labels: dict[str, str],
    unit: int = 100,
    palette: bool = False,
) -> str:
    """Grouped bars of centavos per day (of counts with `unit=1`): a y axis with round values, an x
    axis with dates (about
    eight, so they never overlap), a title on every bar for a pointer; `name` is what a screen
    reader says of it (the table beside it holds every figure). With `palette` the series take
    the colours s-c1, s-c2, ... in order, not a class of their own name."""
    width, height = 760, 260
    left, right, top, bottom = 78, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for values in series.values() for v in values] + [0])
    step = nice_step(peak, unit=unit)
    ceiling = step * max(-(-peak // step), 1)
    slot = plot_w / max(len(days), 1)
    bar = max((slot * 0.8) / max(len(series), 1), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{escape(name)}">'
    ]
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(value_label(tick))}</text>'
        )
    base = top + plot_h
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>')
    every = max(1, -(-len(days) // 8))
    for i, day in enumerate(days):
        x0 = left + i * slot + slot * 0.1
        for j, (key, values) in enumerate(series.items()):
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / ceiling
            title = f"{day_label(day)} · {series_labels[key]}: {value_label(value)}"
            parts.append(
                f'<rect class="{_colour(key, j, palette)}" x="{x0 + j * bar:.1f}" y="{base - h:.1f}" '
                f'width="{bar:.1f}" '
                f'height="{h:.1f}"><title>{escape(title)}</title></rect>'
            )
        if i % every == 0:
            cx = left + (i + 0.5) * slot
            parts.append(f'<line class="axis" x1="{cx:.1f}" y1="{base}" x2="{cx:.1f}" y2="{base + 4}"/>')
            parts.append(
                f'<text x="{cx:.1f}" y="{base + 18}" text-anchor="middle">{escape(day_label(day))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _colour(key: str, index: int, palette: bool) -> str:
    return f"s-c{index + 1}" if palette else f"s-{key}"


def ranking_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    *,
    name: str,
    value_label: Callable[[int], str],
    series_labels: dict[str, str],
    unit: int = 100,
    top: int | None = None,
) -> str:
    """Grouped horizontal bars, one group a row (a category, a product, a campaign), its label on
    the left and each bar's value at its end; colours s-c1, s-c2, ... in the series' order. Values
    below zero draw as zero (the table beside it holds every figure, signed). `top` fixes the
    scale's end (10000 basis points: a rate's 100%)."""
    width, left, right, top = 760, 200, 90, 8
    bar_h, gap = 14, 10
    rows = max(len(labels), 1)
    group_h = bar_h * max(len(series), 1)
    height = top + rows * (group_h + gap) + 24
    plot_w = width - left - right
    peak = max([v for values in series.values() for v in values] + [0])
    step = nice_step(peak, unit=unit)
    ceiling = step * max(-(-peak // step), 1)
    if top is not None:
        step, ceiling = top // 4, top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart chart-ranking" aria-label="{escape(name)}">'
    ]
    base = height - 20
    for tick in range(0, ceiling + 1, step):
        x = left + plot_w * tick / ceiling
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{base}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{escape(value_label(tick))}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>')
    for i, label in enumerate(labels):
        y0 = top + i * (group_h + gap) + gap / 2
        shown = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y0 + group_h / 2 + 4:.1f}" text-anchor="end">{escape(shown)}</text>'
        )
        for j, (key, values) in enumerate(series.items()):
            value = max(values[i], 0)
            w = plot_w * value / ceiling
            y = y0 + j * bar_h
            title = f"{label} · {series_labels[key]}: {value_label(values[i])}"
            parts.append(
                f'<rect class="s-c{j + 1}" x="{left}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
                f'height="{bar_h - 2}"><title>{escape(title)}</title></rect>'
            )
            parts.append(
                f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4:.1f}">'
                f"{escape(value_label(values[i]))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
