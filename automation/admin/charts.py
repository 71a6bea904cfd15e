"""Server-rendered SVG charts for the workflow's Performance tab (no JavaScript, no CDN).

`bars()` draws stacked bars per time bucket, one colour per series, with a
y axis, a few time labels, and a <title> on every bar (the browser's tooltip).
`line()` draws one series (None: a gap) as a polyline with dots.
"""

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
TICKS = 4
LABELS = 6

COLORS = {
    "fired": "#2e7d32",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#f9a825",
    "rate_limited": "#ef6c00",
    "not_selected": "#8e24aa",
    "skipped_pending": "#f9a825",
    "stopped": "#6d4c41",
    "loop_disabled": "#c62828",
    "already_enrolled": "#1565c0",
    "lateness": "#1565c0",
}
OTHER = "#607d8b"


def num(value):
    """A coordinate as text (format_html escapes its arguments to text first)."""
    return f"{value:.1f}"


def nice_max(value):
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bucket_label(moment, bucket):
    local = timezone.localtime(moment)
    if bucket == "hour_of_day":
        return local.strftime("%H:00")
    return local.strftime("%m-%d") if bucket == "day" else local.strftime("%m-%d %H:%M")


def frame(title, top, starts, bucket, unit=""):
    """The axes, grid and time labels; returns (svg parts, x of bucket i, plot width)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(starts))
    slot = plot_w / n
    parts = [format_html("<title>{}</title>", title)]
    ticks = min(TICKS, top)  # whole numbers on a small axis
    for tick in range(ticks + 1):
        y = TOP + plot_h - plot_h * tick / ticks
        value = top * tick / ticks
        text = f"{value:g}{unit}"
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT, WIDTH - RIGHT, num(y), num(y), LEFT - 4, num(y + 3), text,
            )
        )  # fmt: skip
    every = max(1, len(starts) // LABELS)
    for i in range(0, len(starts), every):
        if LEFT + i * slot > WIDTH - RIGHT - 60:
            break  # no room for the label
        parts.append(
            format_html(
                '<text class="tick" x="{}" y="{}">{}</text>',
                num(LEFT + i * slot), HEIGHT - 6, bucket_label(starts[i], bucket),
            )
        )  # fmt: skip
    return parts, slot, plot_h


def svg(parts, label, css):
    return format_html(
        '<svg class="chart {}" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        css, label, WIDTH, HEIGHT, mark_safe("".join(parts)),
    )  # fmt: skip


def bars(title, starts, series, bucket):
    """Stacked bars: `series` {name: [n per bucket]}, drawn in the given order."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(starts))]
    top = nice_max(max(totals, default=0))
    parts, slot, plot_h = frame(title, top, starts, bucket)
    width = max(1.0, slot * 0.8)
    for i, start in enumerate(starts):
        base = TOP + plot_h
        for name, values in series.items():
            n = values[i]
            if not n:
                continue
            h = plot_h * n / top
            base -= h
            parts.append(
                format_html(
                    '<rect class="bar bar-{}" x="{}" y="{}" width="{}" height="{}" '
                    'fill="{}"><title>{} {}: {}</title></rect>',
                    name, num(LEFT + i * slot + (slot - width) / 2), num(base), num(width), num(h),
                    COLORS.get(name, OTHER), bucket_label(start, bucket), name, n,
                )
            )  # fmt: skip
    return svg(parts, title, "chart-bars")


def line(title, starts, values, bucket, unit="s"):
    """One series as a polyline with dots; None values leave a gap."""
    top = nice_max(max((v for v in values if v is not None), default=0))
    parts, slot, plot_h = frame(title, top, starts, bucket, unit)
    runs, run = [], []
    for i, value in enumerate(values):
        if value is None:
            runs, run = ([*runs, run] if run else runs), []
            continue
        x, y = LEFT + i * slot + slot / 2, TOP + plot_h - plot_h * value / top
        run.append((x, y))
        parts.append(
            format_html(
                '<circle class="dot" cx="{}" cy="{}" r="2.5" fill="{}">'
                "<title>{}: {}{}</title></circle>",
                num(x), num(y), COLORS["lateness"], bucket_label(starts[i], bucket), value, unit,
            )
        )  # fmt: skip
    if run:
        runs.append(run)
    for points in runs:
        parts.append(
            format_html(
                '<polyline class="line" fill="none" stroke="{}" stroke-width="1.5" points="{}"/>',
                COLORS["lateness"],
                format_html_join(" ", "{},{}", ((num(x), num(y)) for x, y in points)),
            )
        )
    return svg(parts, title, "chart-line")


def legend(names):
    return format_html_join(
        "",
        '<span class="legend-item"><span class="swatch" style="background:{}"></span>{}</span>',
        ((COLORS.get(name, OTHER), name.replace("_", " ")) for name in names),
    )
