"""Server-rendered SVG charts (no JavaScript): horizontal bars and daily lines.

Every chart has a ``<title>`` and ``<desc>`` and ``role="img"``; the page also shows the
same figures as a table, so nothing is only in the picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# Colours distinguishable in common colour-vision deficiencies (Okabe-Ito), dark enough
# against white for 3:1 graphics contrast.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8F7B00")


def _fmt(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u00a0")


def bars(
    items: Sequence[tuple[str, float]],
    title: str,
    value_text: Callable[[float], str] = _fmt,
    width: int = 640,
) -> Markup:
    """Horizontal bars, one per (label, value)."""
    row, label_w, pad = 26, 170, 8
    height = pad * 2 + row * max(len(items), 1)
    top = max((v for _, v in items), default=0) or 1
    plot = width - label_w - 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape("; ".join(f"{label}: {value_text(value)}" for label, value in items))
        + "</desc>",
    ]
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = max(0.0, plot * value / top)
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" class="chart-label">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="chart-value">'
            f"{escape(value_text(value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def lines(
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    title: str,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """One polyline per series over the days (cumulative figures read best here)."""
    left, right, top_pad, bottom = 56, 12, 12, 64
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max((max(values, default=0) for _, values in series), default=0) or 1
    n = max(len(days), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape(
            "; ".join(
                f"{name}: {_fmt(values[-1]) if values else 0}" + (f" ({days[-1]})" if days else "")
                for name, values in series
            )
        )
        + "</desc>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" '
        f'y2="{top_pad + plot_h}" class="axis"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" class="chart-value">'
        f"{escape(_fmt(top))}</text>",
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" '
        'class="chart-value">0</text>',
    ]
    if days:
        parts.append(
            f'<text x="{left}" y="{top_pad + plot_h + 16}" class="chart-value">'
            f"{escape(days[0])}</text>"
        )
        if len(days) > 1:
            parts.append(
                f'<text x="{left + plot_w}" y="{top_pad + plot_h + 16}" text-anchor="end" '
                f'class="chart-value">{escape(days[-1])}</text>'
            )
    for k, (name, values) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        if len(values) == 1:
            parts.append(f'<circle cx="{x(0):.1f}" cy="{y(values[0]):.1f}" r="3" fill="{colour}"/>')
        elif values:
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
            )
        lx = left + (k % 4) * (plot_w / 4)
        ly = height - 28 + (k // 4) * 16
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}" class="chart-label">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
