"""Server-rendered SVG bar charts (no JavaScript, no CDN)."""
from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#d9487c", "#f0a202", "#3a86ff", "#2a9d8f", "#8338ec", "#6c757d", "#e76f51")



def _title_and_legend(out: list[str], title: str | None, series, left: int, top: int) -> None:
    """Append the chart's title and one coloured legend entry per series (SVG elements)."""
    if title:
        out.append(f'<text x="0" y="14" font-size="14" font-weight="bold">{escape(title)}</text>')
    x = left
    for i, (name, _) in enumerate(series):
        y = top - 18
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 11}">{escape(name)}</text>')
        x += 16 + 13 * len(name) + 18

def bar_chart(labels: list[str], series: list[tuple[str, list[float]]], *, width: int = 760,
              bar: int = 9, title: str = "") -> Markup:
    """Horizontal grouped bars: one group per label, one bar per series (name, values).

    Each bar carries its value as text; a legend sits at the top. Returns inline SVG markup.
    """
    if not labels or not series:
        return Markup('<p class="text-muted">本月暂无数据。</p>')
    left, right, top = 96, 56, 34 + (18 if title else 0)
    group = bar * len(series) + 8
    height = top + group * len(labels) + 10
    peak = max((v for _, values in series for v in values), default=0) or 1
    scale = (width - left - right) / peak
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">']
    _title_and_legend(out, title, series, left, top)
    for gi, label in enumerate(labels):
        gy = top + gi * group
        out.append(f'<text x="{left - 6}" y="{gy + group / 2 + 2:.0f}" text-anchor="end">{escape(label)}</text>')
        for si, (name, values) in enumerate(series):
            value = values[gi] if gi < len(values) else 0
            w = max(value * scale, 0)
            y = gy + si * bar
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 1}" '
                       f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(label)} {escape(name)}: '
                       f'{_num(value)}</title></rect>')
            if value:
                out.append(f'<text x="{left + w + 3:.1f}" y="{y + bar - 1}" font-size="10">{_num(value)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def line_chart(labels: list[str], series: list[tuple[str, list[float]]], *, width: int = 760,
               height: int = 260, title: str = "") -> Markup:
    """A line per series (name, one value per label) over ``labels`` (e.g. 12 months), with
    dots carrying their value as a tooltip and a legend at the top. Scales to its box's width
    (``viewBox``, ``max-width: 100%``), so it fits a phone. Returns inline SVG markup."""
    if not labels or not series:
        return Markup('<p class="text-muted">暂无数据。</p>')
    left, right, top, bottom = 40, 16, 34 + (18 if title else 0), 34
    peak = max((v for _, values in series for v in values), default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(labels) - 1, 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="trend-chart" '
           f'viewBox="0 0 {width} {height}" style="width:100%;max-width:{width}px;height:auto" '
           f'font-family="sans-serif" font-size="12">']
    _title_and_legend(out, title, series, left, top)
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>')
    out.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{_num(peak)}</text>')
    out.append(f'<text x="{left - 4}" y="{base}" text-anchor="end" font-size="10">0</text>')
    for i, label in enumerate(labels):
        lx = left + i * step
        out.append(f'<text x="{lx:.1f}" y="{base + 16}" text-anchor="middle" font-size="10">'
                   f'{escape(label[-2:].lstrip("0") + "月" if len(label) == 7 else label)}</text>')
    for si, (name, values) in enumerate(series):
        color = PALETTE[si % len(PALETTE)]
        points = [(left + i * step, base - (values[i] if i < len(values) else 0) / peak * plot_h)
                  for i in range(len(labels))]
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        for i, (px, py) in enumerate(points):
            value = values[i] if i < len(values) else 0
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"><title>'
                       f'{escape(labels[i])} {escape(name)}：{_num(value)}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))
