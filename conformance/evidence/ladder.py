"""Ladder diagrams: one SVG message sequence chart per case, lab on the left, device on the right.

One arrow per transcript entry, labelled with its summary (``POST pkg1: Alert 1201``,
``CON GET /10241/0/5905``); lab notes span the two lanes. The failing step — an entry with a
protocol error, or one the case names — is drawn in red. The SVG is built with lxml so every
label is escaped, and it is self-contained (no scripts, no external references) so it can be
embedded in both HTML reports and attached to Allure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lxml import etree

from conformance.evidence.transcript import Entry

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH = 760
LAB_X = 110
DEVICE_X = 650
TOP = 56
ROW = 34
MAX_LABEL = 78
COLOURS = {"normal": "#1f3a5f", "error": "#c62828", "note": "#6b6b6b"}


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _el(
    parent: etree._Element, tag: str, text: str | None = None, **attrs: object
) -> etree._Element:
    """A child element; ``font_size=`` becomes ``font-size``, ``class_=`` becomes ``class``."""
    names = {k: k.rstrip("_").replace("_", "-") for k in attrs}
    element = etree.SubElement(
        parent, f"{{{SVG_NS}}}{tag}", {names[k]: str(v) for k, v in attrs.items()}
    )
    if text is not None:
        element.text = text
    return element


def ladder_svg(
    entries: Sequence[Entry],
    *,
    title: str = "",
    device: str = "Device",
    highlight: Iterable[int] = (),
) -> str:
    """The SVG text of a ladder diagram for ``entries`` (in order)."""
    marked = set(highlight)
    height = TOP + ROW * max(len(entries), 1) + 30
    svg = etree.Element(
        f"{{{SVG_NS}}}svg",
        nsmap={None: SVG_NS},  # type: ignore[dict-item]  # default namespace; stubs lack it
        width=str(WIDTH),
        height=str(height),
        viewBox=f"0 0 {WIDTH} {height}",
        role="img",
    )
    _el(svg, "title", title or "message sequence")
    defs = _el(svg, "defs")
    for name, colour in COLOURS.items():
        marker = _el(
            defs,
            "marker",
            id=f"arrow-{name}",
            viewBox="0 0 10 10",
            refX=10,
            refY=5,
            markerWidth=8,
            markerHeight=8,
            orient="auto-start-reverse",
        )
        _el(marker, "path", d="M 0 0 L 10 5 L 0 10 z", fill=colour)
    _el(svg, "rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff")
    if title:
        _el(
            svg,
            "text",
            title,
            x=WIDTH / 2,
            y=18,
            text_anchor="middle",
            font_size=13,
            font_family="sans-serif",
            font_weight="bold",
        )
    for x, name in ((LAB_X, "Lab"), (DEVICE_X, device)):
        _el(
            svg,
            "text",
            _label(name)[:40],
            x=x,
            y=40,
            text_anchor="middle",
            font_size=12,
            font_family="sans-serif",
            font_weight="bold",
        )
        _el(
            svg, "line", x1=x, y1=46, x2=x, y2=height - 12, stroke="#999999", stroke_dasharray="4 3"
        )
    start = entries[0].time if entries else 0.0
    for row, entry in enumerate(entries):
        y = TOP + ROW * row + 14
        failed = entry.error is not None or entry.seq in marked
        kind = "error" if failed else ("note" if entry.direction == "note" else "normal")
        colour = COLOURS[kind]
        group = _el(svg, "g", class_=f"step {kind}", data_seq=entry.seq)
        tooltip = entry.summary + (f"\n{entry.error}" if entry.error else "")
        _el(group, "title", tooltip)
        _el(
            group,
            "text",
            f"+{entry.time - start:.3f}s",
            x=4,
            y=y + 4,
            font_size=10,
            font_family="monospace",
            fill="#777777",
        )
        label = _label(entry.summary) + (" ✗" if failed else "")
        if entry.direction == "note":
            _el(
                group,
                "rect",
                x=LAB_X + 10,
                y=y - 12,
                width=DEVICE_X - LAB_X - 20,
                height=18,
                fill="#f3f3f3",
                stroke=colour,
                rx=3,
            )
            _el(
                group,
                "text",
                label,
                x=(LAB_X + DEVICE_X) / 2,
                y=y + 1,
                text_anchor="middle",
                font_size=11,
                font_family="sans-serif",
                fill=colour,
            )
            continue
        x1, x2 = (DEVICE_X, LAB_X) if entry.direction == "device->lab" else (LAB_X, DEVICE_X)
        _el(
            group,
            "line",
            x1=x1,
            y1=y,
            x2=x2,
            y2=y,
            stroke=colour,
            stroke_width=2.5 if failed else 1.5,
            marker_end=f"url(#arrow-{kind})",
        )
        _el(
            group,
            "text",
            label,
            x=(LAB_X + DEVICE_X) / 2,
            y=y - 5,
            text_anchor="middle",
            font_size=11,
            font_family="monospace",
            fill=colour,
        )
    return etree.tostring(svg, encoding="unicode")


def inline_svg(svg: str, prefix: str) -> str:
    """``svg`` ready to inline in an HTML page next to other diagrams: its arrow-head ids get
    ``prefix`` (a marker id shared with a diagram in a closed section may not render)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in prefix)
    return svg.replace('id="arrow-', f'id="{safe}-arrow-').replace(
        "url(#arrow-", f"url(#{safe}-arrow-"
    )
