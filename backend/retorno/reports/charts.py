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


def nice_step(peak: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten, in whole reais) for about `ticks` gridlines."""
    raw = max(peak / ticks, 100)
    power = 100
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
) -> str:
    """Grouped bars of centavos per day: a y axis with round values, an x axis with dates (about
    eight, so they never overlap), a title on every bar for a pointer; `name` is what a screen
    reader says of it (the table beside it holds every figure)."""
    width, height = 760, 260
    left, right, top, bottom = 78, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for values in series.values() for v in values] + [0])
    step = nice_step(peak)
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
                f'<rect class="s-{key}" x="{x0 + j * bar:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
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
