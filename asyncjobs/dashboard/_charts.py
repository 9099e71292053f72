"""The overview's chart, drawn server-side as inline SVG: the jobs a queue finished in each
minute of the last hour (``inspect.history``), by final state, stacked. Only numbers go
into the markup."""

from __future__ import annotations

from ..inspector import MinuteCounts

WIDTH = 240
HEIGHT = 48


def history_svg(history: list[MinuteCounts]) -> str:
    """One bar per minute, oldest at the left: complete (green) under failed (red), dead
    (dark red) and cancelled (grey); the tallest minute fills the height."""
    top = max((m.finished for m in history), default=0) or 1
    step = WIDTH / max(len(history), 1)
    bar = max(step - 1, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             'role="img" aria-label="jobs finished per minute, last hour">'
             f'<rect class="chart-bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/>']
    for i, minute in enumerate(history):
        x = i * step
        y = float(HEIGHT)
        for value, kind in ((minute.complete, "ok"), (minute.failed, "bad"), (minute.dead, "dead"),
                            (minute.cancelled, "off")):
            if value:
                h = value / top * (HEIGHT - 2)
                y -= h
                parts.append(f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                             f'height="{h:.1f}"><title>{value} {kind}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)
