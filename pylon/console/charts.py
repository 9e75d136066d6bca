"""Charts as inline SVG, drawn on the server: no script, no CDN, nothing fetched by the browser.

Every chart carries its figures as text (value labels, a ``<title>`` and an ``aria-label``), so it
reads without colour and without the picture; negative bars are hatched as well as coloured.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar
    value: float  # its height
    text: str  # the figure printed on it, with its unit


def _svg(width: int, height: int, summary: str, body: list[str], css_class: str) -> SafeString:
    # Safe: every text and attribute value from outside is escaped above and here; the rest is ours.
    return mark_safe(  # noqa: S308
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(summary)}</title>'
        + "".join(body)
        + "</svg>"
    )


def bar_chart(bars: Sequence[Bar], *, summary: str, width: int = 560, height: int = 190) -> SafeString:
    """Vertical bars from a zero line, each labelled with its figure; below zero when negative."""
    top, bottom, side = 22, 34, 8
    plot = height - top - bottom
    highest = max((bar.value for bar in bars), default=0.0)
    lowest = min((bar.value for bar in bars), default=0.0)
    span = (max(highest, 0.0) - min(lowest, 0.0)) or 1.0
    zero_y = top + plot * max(highest, 0.0) / span
    slot = (width - 2 * side) / max(len(bars), 1)
    body = [
        '<defs><pattern id="pylon-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="neg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>'
    ]
    for index, bar in enumerate(bars):
        x = side + index * slot + slot * 0.15
        bar_width = slot * 0.7
        size = plot * abs(bar.value) / span
        y = zero_y - size if bar.value >= 0 else zero_y
        fill = 'class="pos"' if bar.value >= 0 else 'fill="url(#pylon-hatch)"'
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{max(size, 0.5):.1f}" {fill}/>')
        text_y = y - 5 if bar.value >= 0 else y + size + 12
        centre = x + bar_width / 2
        body.append(f'<text x="{centre:.1f}" y="{text_y:.1f}" class="value">{escape(bar.text)}</text>')
        body.append(f'<text x="{centre:.1f}" y="{height - 8}" class="label">{escape(bar.label)}</text>')
    body.append(f'<line x1="{side}" y1="{zero_y:.1f}" x2="{width - side}" y2="{zero_y:.1f}" class="axis"/>')
    return _svg(width, height, summary, body, "pylon-chart pylon-chart--bars")


@dataclass(frozen=True)
class Mark:
    index: int  # which point
    text: str  # what the label says


def line_chart(
    values: Sequence[float | None],
    *,
    summary: str,
    marks: Sequence[Mark] = (),
    axis_labels: Sequence[tuple[int, str]] = (),
    width: int = 300,
    height: int = 86,
) -> SafeString:
    """A line over evenly spaced points (gaps where a value is unknown), with labelled marks (a dot
    and its text) and time labels under the axis."""
    top, bottom, side = 16, 18, 4
    plot = height - top - bottom
    known = [v for v in values if v is not None and not math.isnan(v)]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = (high - low) or 1.0
    step = (width - 2 * side) / max(len(values) - 1, 1)

    def point(index: int, value: float) -> tuple[float, float]:
        return side + index * step, top + plot * (high - value) / span

    body, run = [], []
    for index, value in enumerate([*values, None]):
        if value is None or math.isnan(value):
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" class="line"/>')
            run = []
            continue
        x, y = point(index, value)
        run.append(f"{x:.1f},{y:.1f}")
    body.append(f'<line x1="{side}" y1="{top + plot}" x2="{width - side}" y2="{top + plot}" class="axis"/>')
    for index, text in axis_labels:
        x = side + index * step
        anchor = "start" if index == 0 else "end" if index >= len(values) - 1 else "middle"
        body.append(f'<text x="{x:.1f}" y="{height - 4}" class="label" text-anchor="{anchor}">{escape(text)}</text>')
    for mark in marks:
        value = values[mark.index]
        if value is None or math.isnan(value):
            continue
        x, y = point(mark.index, value)
        anchor = "start" if x < width / 3 else "end" if x > 2 * width / 3 else "middle"
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="mark"/>')
        label_y = y - 6 if y > top + 10 else y + 13
        body.append(
            f'<text x="{x:.1f}" y="{label_y:.1f}" class="value" text-anchor="{anchor}">{escape(mark.text)}</text>'
        )
    return _svg(width, height, summary, body, "pylon-chart pylon-chart--line")
