"""Message-sequence charts drawn as SVG by faultcheck itself: no Graphviz, nothing to install.

`render(trace)` (or a `Chart` from `msc.chart`) gives a standalone SVG document: a step column on the
left, one lane per node, time downwards with one row per step, message arrows from the sending row to the
row that delivered, dropped or lost them, crash and restart marks, partition bands, ticks and clocks, the
lasso and the verdict. Text widths are estimated from a per-character table on the wide side of common
sans fonts, and labels are placed greedily so that no two text boxes overlap: a label that finds no free
place along its arrow makes its row taller, and the layout starts again. Imports `.msc`, `.format` and
the standard library only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from .format import Trace
from .msc import Chart, Message, chart, chart_title, offset_text

FONT = "Helvetica, Arial, 'DejaVu Sans', sans-serif"
ASCENT, DESCENT = 0.96, 0.26  # of the font size: a text's box above and below its baseline

# em widths, on the wide side of DejaVu Sans (wider than Helvetica, Arial and Liberation Sans)
_WIDTHS: dict[str, float] = {}
for _chars, _w in (("ijl.,:;'|", 0.34), (" ", 0.34), ("!ft()[]-/\\IJr", 0.42), ('"*_`', 0.52), ("csz?", 0.57),
                   ("abdeghknopquvxy0123456789LFPTY${}", 0.66), ("AEBCKRSVXZ", 0.72), ("DGHNOQU&", 0.81),
                   ("w#+<=>^~", 0.87), ("mMW%@", 1.0)):
    _WIDTHS.update(dict.fromkeys(_chars, _w))

# colours, as the DOT chart has them
BLUE, RED, GREY, GREEN = "#1f4e9a", "#b00020", "#777777", "#1b5e20"
BROWN, ORANGE, PURPLE = "#6d4c00", "#e08a00", "#6a3fb5"
CYCLE_FILL, BAND_FILL, VERDICT_FILL, HEADER_FILL = "#e8e0f8", "#fde7c8", "#fde0e0", "#e8eef9"
FAULTS = ("crash", "drop", "duplicate", "partition", "clock_jump")

# geometry (px)
MARGIN = 12
STEP_FONT, HEADER_FONT, LABEL_FONT, MARK_FONT, TITLE_FONT = 11.0, 12.0, 10.0, 10.0, 13.0
ROW_MID = 13.0  # a row's cells sit this far below its top; the rest of the row is room below them
ROW_HEIGHT = 32.0
LINE = 14.0  # a wrapped line of step text
GROW = 14.0  # what a row gains when a label finds no room
STEP_WRAP = 320.0  # step labels wider than this wrap
MAX_ROUNDS = 80
PAD = 3.0  # the least space between two texts (a label's white halo is 1.5 px)
CLEAR_TRIES = 40  # free places a label tries for one that no other arrow crosses
DOT_R = 4.5  # the dot of a cell where a node acts or sends


def text_width(text: str, size: float) -> float:
    """An upper bound on the width of `text` in a sans font of `size` px (DejaVu Sans draws "Commit" at 10 px
    39.3 wide, Arial and Liberation Sans 34.4):

    >>> round(text_width("Commit", 10), 1)
    41.4
    """
    em = 0.0
    for ch in text:
        w = _WIDTHS.get(ch)
        if w is None:
            if unicodedata.combining(ch):
                w = 0.0
            elif ord(ch) >= 0x1F000 or unicodedata.east_asian_width(ch) in "WF":
                w = 1.3  # emoji and CJK
            else:
                w = 1.0
        em += w
    return em * size


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: Box, pad: float = 0.0) -> bool:
        """Whether the two boxes, each grown by `pad` / 2 on every side, overlap."""
        return (self.x0 < other.x1 + pad and other.x0 < self.x1 + pad
                and self.y0 < other.y1 + pad and other.y0 < self.y1 + pad)


def text_box(text: str, x: float, y: float, size: float, anchor: str = "start") -> Box:
    """The box that holds `text` drawn at (x, y) (y: the baseline) with this size and text-anchor."""
    w = text_width(text, size)
    x0 = x if anchor == "start" else x - w / 2 if anchor == "middle" else x - w
    return Box(x0, y - ASCENT * size, x0 + w, y + DESCENT * size)


@dataclass
class _Text:
    x: float
    y: float
    text: str
    size: float
    anchor: str = "start"
    fill: str = "#000000"

    @property
    def box(self) -> Box:
        return text_box(self.text, self.x, self.y, self.size, self.anchor)


class _Space:
    """The boxes already taken, bucketed by height for quick look-ups."""

    BAND = 40.0

    def __init__(self) -> None:
        self.bands: dict[int, list[Box]] = defaultdict(list)

    def _span(self, b: Box, pad: float) -> range:
        return range(math.floor((b.y0 - pad) / self.BAND), math.floor((b.y1 + pad) / self.BAND) + 1)

    def free(self, b: Box, pad: float = PAD) -> bool:
        return not any(b.hits(o, pad) for k in self._span(b, pad) for o in self.bands.get(k, ()))

    def add(self, b: Box) -> None:
        for k in self._span(b, 0.0):
            self.bands[k].append(b)


def _crosses(b: Box, seg: tuple[float, float, float, float]) -> bool:
    """Whether the segment (x0, y0, x1, y1) passes through the box (Liang and Barsky's clipping)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - b.x0), (dx, b.x1 - x0), (-dy, y0 - b.y0), (dy, b.y1 - y0)):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            lo = max(lo, q / p)
        else:
            hi = min(hi, q / p)
        if lo > hi:
            return False
    return True


class _Lines:
    """The messages' arrows, bucketed by height: a label is best where no other arrow runs through it."""

    BAND = 40.0

    def __init__(self) -> None:
        self.bands: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = defaultdict(list)

    def add(self, k: int, seg: tuple[float, float, float, float]) -> None:
        for band in range(math.floor(min(seg[1], seg[3]) / self.BAND), math.floor(max(seg[1], seg[3]) / self.BAND) + 1):
            self.bands[band].append((k, seg))

    def clear_of_others(self, b: Box, k: int) -> bool:
        return not any(j != k and _crosses(b, seg) for band in range(math.floor(b.y0 / self.BAND),
                                                                        math.floor(b.y1 / self.BAND) + 1)
                       for j, seg in self.bands.get(band, ()))


# -- the parts of a chart that do not depend on row heights ---------------------------------------------------------


@dataclass
class _Frame:
    c: Chart
    title: str
    lanes: list[str]
    step_lines: list[list[str]]  # per row: its label wrapped into lines
    num_w: float  # the row numbers' column
    step_x0: float
    step_x1: float
    xs: dict[str, float]  # lane -> x
    header_w: dict[str, float]
    header_y: float
    rows_top: float
    loop: int | None
    labels: list[str] = field(default_factory=list)  # per message: its text
    drawn: list[int] = field(default_factory=list)  # the messages between two lanes (all, but in a malformed trace)
    acting: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, lane) -> what the cell shows


def _wrap(text: str, width: float, size: float) -> list[str]:
    """`text` in lines at most `width` wide, broken at spaces (or anywhere in a longer word)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        cand = f"{line} {word}" if line else word
        if text_width(cand, size) <= width:
            line = cand
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:  # a word longer than a line: cut it
            if line and text_width(line + ch, size) > width:
                lines.append(line)
                line = ""
            line += ch
    lines.append(line)
    return lines


def message_text(m: Message) -> str:
    """What the chart writes beside a message's arrow: "Write(1)", "✕ Write(1)" (dropped), "✕ lost in the
    crash: Write(1)", "Write(1) …" (still in flight), "Write(1) (copy)"."""
    label = m.label + (" (copy)" if m.copy else "")
    if m.fate == "dropped":
        return "✕ " + label
    if m.fate == "lost":
        return "✕ lost in the crash: " + label
    if m.fate == "in flight":
        return label + " …"
    return label


def _frame(c: Chart, title: str) -> _Frame:
    lanes = [ln for ln in c.lanes if isinstance(ln, str)] or ["system"]  # a malformed trace's odd names: left out
    step_lines = [_wrap(r.label, STEP_WRAP, STEP_FONT) for r in c.rows]
    num_w = text_width(str(len(c.rows) - 1), STEP_FONT)
    loop = c.loop if c.loop is not None and 0 <= c.loop < len(c.rows) else None
    step_x0 = MARGIN + (26.0 if loop is not None else 0.0)
    text_w = max(text_width(line, STEP_FONT) for lines in step_lines for line in lines)
    step_x1 = step_x0 + 6 + num_w + 8 + max(text_w, text_width("step", STEP_FONT)) + 8
    header_w = {lane: text_width(lane, HEADER_FONT) + 18 for lane in lanes}
    labels = [message_text(m) for m in c.messages]
    drawn = [k for k, m in enumerate(c.messages) if isinstance(m.src, str) and isinstance(m.dst, str)
             and m.src in lanes and m.dst in lanes]
    acting: dict[tuple[int, str], str] = {}
    for k in drawn:
        acting[(c.messages[k].sent, c.messages[k].src)] = "dot"
    for r in c.rows:
        if r.lane in lanes:
            own = r.kind in ("clock", "clock_jump")
            acting[(r.index, r.lane)] = ("crash" if r.kind == "crash" else "restart" if r.kind == "restart"
                                         else "clock" if own else "dot")
    # the lanes: evenly spaced, wide enough for the headers, the marks on them and most labels
    own_marks = [text_width(c.clock_mark(lane, i) or "◷", MARK_FONT) for (i, lane), what in acting.items()
                 if what == "clock"]
    widths = sorted(text_width(t, LABEL_FONT) for t in labels)
    typical = widths[len(widths) * 3 // 4] if widths else 0.0
    gap = max([90.0, min(150.0, typical + 24)]
              + [header_w[a] / 2 + header_w[b] / 2 + 14 for a, b in zip(lanes, lanes[1:])]
              + [w + 16 for w in own_marks])
    first = lanes[0] if lanes else ""
    x = step_x1 + max(44.0, header_w.get(first, 0) / 2 + 10, max(own_marks, default=0) / 2 + 10)
    xs = {}
    for lane in lanes:
        xs[lane] = x
        x += gap
    header_y = MARGIN + (TITLE_FONT + 10 if title else 0)
    return _Frame(c, title, lanes, step_lines, num_w, step_x0, step_x1, xs, header_w, header_y, header_y + 24 + 12,
                  loop, labels, drawn, acting)


# -- one attempt at the layout, for given row heights ---------------------------------------------------------------


@dataclass
class _Layout:
    tops: list[float]  # per row, and one more: where the rows end
    mids: list[float]  # per row: the height of its cells
    y_end: float  # where messages still in flight end
    texts: dict[str, _Text] = field(default_factory=dict)  # placed labels by key
    shapes: list[Box] = field(default_factory=list)
    failed: dict[int, int] = field(default_factory=dict)  # row -> how many labels found no room there

    def row_at(self, y: float) -> int:
        for i in range(len(self.mids)):
            if y < self.tops[i + 1]:
                return i
        return len(self.mids) - 1


def _attempt(f: _Frame, extra: list[float]) -> _Layout:
    c = f.c
    n = len(c.rows)
    tops = [f.rows_top]
    for i in range(n):
        tops.append(tops[-1] + ROW_HEIGHT + LINE * (len(f.step_lines[i]) - 1) + extra[i])
    mids = [t + ROW_MID for t in tops[:-1]]
    y_end = tops[-1] + 20 + (22 if f.loop is not None else 0)
    lay = _Layout(tops, mids, y_end)
    space = _Space()
    # fixed: the step column, the headers, the cells' marks
    space.add(Box(MARGIN, f.header_y, f.step_x1, tops[-1]))
    for lane in f.lanes:
        w = f.header_w[lane]
        space.add(Box(f.xs[lane] - w / 2, f.header_y, f.xs[lane] + w / 2, f.header_y + 24))
    for (i, lane), what in f.acting.items():
        box = _cell_box(f, what, f.xs[lane], mids[i], i, lane)
        lay.shapes.append(box)
        space.add(box)

    lines = _Lines()
    for k in f.drawn:
        (ax, ay), (bx, by) = _ends(f, lay, c.messages[k])
        if c.messages[k].src == c.messages[k].dst:  # the loop to the right, roughly
            lines.add(k, (ax, ay, ax + 27, (ay + by) / 2))
            lines.add(k, (ax + 27, (ay + by) / 2, bx, by))
        else:
            lines.add(k, (ax, ay, bx, by))

    def place(key: str, text: str, size: float, fill: str, cands: Iterator[tuple[float, float, str]], row: int,
              own: int | None = None) -> None:
        """The first free place among `cands`; for a message's label (`own`), the first free place that no other
        arrow runs through, among the first CLEAR_TRIES free ones, else the first free one. Where none is free,
        the label's `row` is noted to grow."""
        first = chosen = crossed = None  # the wanted place, the place taken, the first free one another arrow crosses
        tries = 0
        for x, y, anchor in cands:
            t = _Text(x, y, text, size, anchor, fill)
            first = first or t
            if not space.free(t.box):
                continue
            if own is None or lines.clear_of_others(t.box, own):
                chosen = t
                break
            crossed = crossed or t
            tries += 1
            if tries == CLEAR_TRIES:
                break
        chosen = chosen or crossed
        if chosen is not None:
            space.add(chosen.box)
            lay.texts[key] = chosen
            return
        lay.failed[row] = lay.failed.get(row, 0) + 1
        if first is not None:  # drawn where it wanted to be; the next round makes room
            lay.texts[key] = first

    x_first, x_last = f.xs[f.lanes[0]], f.xs[f.lanes[-1]]
    if f.loop is not None:
        place("loop", "↺ repeats forever", LABEL_FONT, PURPLE, iter([(MARGIN, tops[-1] + 16, "start")]), n - 1)
    for r in c.rows:
        i, y = r.index, mids[r.index]
        if r.kind == "tick":
            t = f"t={c.time[i]}"
            place(f"tick-{i}", t, MARK_FONT, BROWN, iter([(f.step_x1 + 6, y - 3, "start"),
                                                         (f.step_x1 + 6, y + 3 + ASCENT * MARK_FONT, "start"),
                                                         (x_last + 20, y + 3.5, "start")]), i)
    for a, b, sides in c.partitions:
        if len(f.lanes) < 2:
            continue
        for row, text, colour in ((a, "partition " + sides, ORANGE), (b, "heal", GREEN)):
            if row is None:
                continue
            y, mid, below = mids[row], (x_first + x_last) / 2, mids[row] + 4 + ASCENT * LABEL_FONT
            place(f"{'partition' if colour == ORANGE else 'heal'}-{row}", text, LABEL_FONT, colour,
                  iter([(mid, y - 4, "middle"), (x_first + 8, y - 4, "start"), (x_last - 8, y - 4, "end"),
                        (mid, below, "middle"), (x_first + 8, below, "start")]), row)
    for lane in f.lanes:  # a clock's reading beside its lane where it changes
        for i in range(n):
            mark = c.clock_mark(lane, i)
            if mark is None or f.acting.get((i, lane)) == "clock":
                continue
            x, y = f.xs[lane], mids[i]
            place(f"clock-{i}-{lane}", mark, MARK_FONT, BROWN,
                  iter([(x + 8, y + 3.5, "start"), (x - 8, y + 3.5, "end"), (x + 6, y - 5, "start"),
                        (x + 6, y + 5 + ASCENT * MARK_FONT, "start"), (x - 6, y + 5 + ASCENT * MARK_FONT, "end")]), i)
    for k in sorted(f.drawn, key=lambda k: (c.messages[k].sent, _end(c.messages[k], n), k)):
        m = c.messages[k]
        a, b = _ends(f, lay, m)
        cands, row = _label_places(a, b, f.labels[k], m, lay)
        place(f"msg-{k}", f.labels[k], LABEL_FONT, _colour(m), cands, row, own=k)
    return lay


def _end(m: Message, n: int) -> int:
    return m.end if m.end is not None else n


def _ends(f: _Frame, lay: _Layout, m: Message) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where a message's arrow starts and ends."""
    y1 = lay.mids[m.end] if m.end is not None else lay.y_end
    return (f.xs[m.src], lay.mids[m.sent]), (f.xs[m.dst], y1)


def _colour(m: Message) -> str:
    return BLUE if m.fate == "delivered" else RED if m.fate in ("dropped", "lost") else GREY


def _cell_box(f: _Frame, what: str, x: float, y: float, i: int, lane: str) -> Box:
    if what == "crash":
        return text_box("✕", x, y + 5.5, 16, "middle")
    if what == "restart":
        return Box(x - 8, y - 8, x + 8, y + 8)
    if what == "clock":
        return text_box(f.c.clock_mark(lane, i) or "◷", x, y + 3.5, MARK_FONT, "middle")
    return Box(x - DOT_R, y - DOT_R, x + DOT_R, y + DOT_R)


def _label_places(a: tuple[float, float], b: tuple[float, float], text: str, m: Message,
                  lay: _Layout) -> tuple[Iterator[tuple[float, float, str]], int]:
    """Where a message's label may go, best first (on its arrow, near the sending end), and the row to grow
    when none is free."""
    (ax, ay), (bx, by) = a, b
    if m.src == m.dst:  # to itself: a loop out to the right of the lane
        mid = (ay + by) / 2
        pts = sorted({ay + (by - ay) * (k + 0.5) / 8 for k in range(8)}, key=lambda y: abs(y - mid))
        return ((ax + 30, y + 3.5, "start") for y in pts), lay.row_at(mid)
    dx, dy = bx - ax, by - ay
    length = math.hypot(dx, dy)
    n = max(8, int(length / 9))
    t0 = min(0.5, 40.0 / dy) if dy > 0 else 0.5
    ts = sorted(((k + 0.5) / n for k in range(n)), key=lambda t: (abs(t - t0), t))
    ts = [t for t in ts if 0.08 <= t <= 0.92] or [0.5]
    flat = abs(dy) < 0.35 * abs(dx)
    up = ASCENT * LABEL_FONT
    half = (ASCENT - DESCENT) * LABEL_FONT / 2

    def cands() -> Iterator[tuple[float, float, str]]:
        for t in ts:
            px, py = ax + t * dx, ay + t * dy
            on, above, below = (px, py + half, "middle"), (px, py - 3 - DESCENT * LABEL_FONT, "middle"), \
                (px, py + 3 + up, "middle")
            yield from ((above, below, on) if flat else (on, above, below))
            if not flat:
                yield px + 5, py + half, "start"
                yield px - 5, py + half, "end"

    row = lay.row_at(ay + t0 * dy)
    row = max(m.sent, min(row, (m.end if m.end is not None else len(lay.mids)) - 1))
    return cands(), row


def _place(c: Chart, title: str = "") -> tuple[_Frame, _Layout]:
    """Place everything: rows grow where labels found no room, until every label has one (or the rounds run
    out: then the labels that still have none overlap)."""
    f = _frame(c, title)
    extra = [0.0] * len(c.rows)
    for _ in range(MAX_ROUNDS):
        lay = _attempt(f, extra)
        if not lay.failed:
            break
        for row, k in lay.failed.items():
            extra[row] += GROW * min(k, 3)
    return f, lay


# -- SVG -------------------------------------------------------------------------------------------------------------

_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def esc(s: str) -> str:
    """Text or an attribute value for XML: escaped, characters XML cannot hold replaced by U+FFFD."""
    s = _INVALID.sub("\ufffd", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _text(t: _Text, extra: str = "") -> str:
    anchor = "" if t.anchor == "start" else f' text-anchor="{t.anchor}"'
    return (f'<text x="{_n(t.x)}" y="{_n(t.y)}" font-size="{_n(t.size)}"{anchor} fill="{t.fill}"{extra}>'
            f"{esc(t.text)}</text>")


HALO = ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'

_DEFS = (
    "<defs>"
    f'<marker id="fc-arrow" viewBox="0 0 10 10" refX="15" refY="5" markerWidth="9" markerHeight="9" '
    f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill="{BLUE}"/></marker>'
    f'<marker id="fc-tee" viewBox="0 0 4 12" refX="7" refY="6" markerWidth="4" markerHeight="12" '
    f'markerUnits="userSpaceOnUse" orient="auto"><path d="M1,0V12" stroke="{RED}" stroke-width="2"/></marker>'
    f'<marker id="fc-open" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
    f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill="#ffffff" stroke="{GREY}"/></marker>'
    f'<marker id="fc-loop" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
    f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill="{PURPLE}"/></marker>'
    "</defs>"
)


def _is_down(c: Chart, lane: str, row: int) -> bool:
    return any(a <= row and (b is None or row < b) for a, b in c.down.get(lane, []))


def render(chart_or_trace: Chart | Trace, title: str | None = None) -> str:
    """The chart as a standalone SVG document (see the module's docstring). Ids, for scripts and styles:
    `row-{i}` (a step's box and label in the step column, class `row`), `stripe-{i}` (the row across the
    lanes), `lane-{lane}` (its header and line), `cell-{i}-{lane}`, `msg-{k}` (the k-th message of
    `chart(trace).messages`; its label is the text with `data-msg="k"`), `tick-{i}`, `loop`, `verdict`.

    >>> from checker.trace.msc import Chart, Message, Row
    >>> c = Chart(["a", "b"], [Row(0, "initial state", "init", None), Row(1, "Ping a→b", "deliver", "b")],
    ...           [Message("Ping", "a", "b", 0, 1, "delivered")])
    >>> svg = render(c)
    >>> svg.startswith("<?xml") and 'id="msg-0"' in svg and ">Ping</text>" in svg
    True
    """
    if isinstance(chart_or_trace, Trace):
        c = chart(chart_or_trace)
        title = chart_title(chart_or_trace) if title is None else title
    else:
        c = chart_or_trace
    f, lay = _place(c, title or "")
    n = len(c.rows)
    L = f.lanes
    x_first, x_last = f.xs[L[0]], f.xs[L[-1]]
    mids, tops = lay.mids, lay.tops
    # the extent: every text and shape, the lanes and the verdict
    boxes = [t.box for t in lay.texts.values()] + lay.shapes
    boxes += [Box(f.xs[ln] - f.header_w[ln] / 2, 0, f.xs[ln] + f.header_w[ln] / 2, 0) for ln in L]
    verdict: list[_Text] = []
    vbox = None
    if c.violation:
        wrap_w = max(420.0, x_last - MARGIN)
        lines = [f"violated: {c.violation}"] + (_wrap(c.because, wrap_w, STEP_FONT) if c.because else [])
        y = lay.y_end + 18
        for j, line in enumerate(lines):
            verdict.append(_Text(MARGIN + 10, y + 7 + ASCENT * STEP_FONT + 15 * j, line, STEP_FONT, "start", RED))
        w = max(text_width(t.text, STEP_FONT) for t in verdict) + 20
        vbox = Box(MARGIN, y, MARGIN + w, y + 15 * len(lines) + 12)
        boxes.append(vbox)
    if f.title:
        boxes.append(text_box(f.title, MARGIN, MARGIN + TITLE_FONT * ASCENT, TITLE_FONT))
    right = max([b.x1 for b in boxes] + [x_last + 20, f.step_x1])
    width = math.ceil(right + MARGIN)
    height = math.ceil(max([lay.y_end + 6] + [b.y1 for b in boxes]) + MARGIN)
    in_band = {i for a, b, _ in c.partitions for i in range(a, (b if b is not None else n - 1) + 1)}
    cycle = set(range(f.loop, n)) if f.loop is not None else set()

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" class="fc-msc" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}" xml:space="preserve">',
           _DEFS, f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    if f.title:
        out.append(_text(_Text(MARGIN, MARGIN + TITLE_FONT * ASCENT, f.title, TITLE_FONT)))
    # the rows: a stripe across the lanes (shaded in a partition or the lasso's cycle), the step column
    out.append('<g class="stripes" pointer-events="all">')
    for i in range(n):
        fill = CYCLE_FILL if i in cycle else BAND_FILL if i in in_band else "none"
        out.append(f'<rect id="stripe-{i}" class="stripe" x="{_n(f.step_x1)}" y="{_n(tops[i])}" '
                   f'width="{_n(right - f.step_x1)}" height="{_n(tops[i + 1] - tops[i])}" fill="{fill}"'
                   + (' fill-opacity="0.55"' if fill != "none" else "") + "/>")
    out.append("</g>")
    out.append(_text(_Text(f.step_x0 + 4, f.header_y + 16, "step", STEP_FONT, "start", GREY)))
    for r in c.rows:
        i = r.index
        fill = CYCLE_FILL if i in cycle else BAND_FILL if i in in_band else "#ffffff"
        colour = RED if r.kind in FAULTS else "#000000"
        cls = "row" + (" fault" if r.kind in FAULTS else "") + (" cycle" if i in cycle else "") + \
            (" band" if i in in_band else "")
        tip = f"{i}  {r.label}" + (f" (t={c.time[i]})" if c.time and any(c.time) else "")
        out.append(f'<g id="row-{i}" class="{cls}"><title>{esc(tip)}</title>'
                   f'<rect x="{_n(f.step_x0)}" y="{_n(tops[i] + 1)}" width="{_n(f.step_x1 - f.step_x0)}" '
                   f'height="{_n(tops[i + 1] - tops[i] - 2)}" rx="3" fill="{fill}"/>')
        base = mids[i] + 4
        out.append(_text(_Text(f.step_x0 + 6 + f.num_w, base, str(i), STEP_FONT, "end", GREY if colour == "#000000"
                               else colour), ' class="n"'))
        for j, line in enumerate(f.step_lines[i]):
            out.append(_text(_Text(f.step_x0 + 6 + f.num_w + 8, base + LINE * j, line, STEP_FONT, "start", colour)))
        out.append("</g>")
    # the lanes: a header box and a line, dashed grey while the node is down
    for lane in L:
        x, w = f.xs[lane], f.header_w[lane]
        out.append(f'<g id="lane-{esc(lane)}" class="lane"><title>{esc(lane)}</title>'
                   f'<rect x="{_n(x - w / 2)}" y="{_n(f.header_y)}" width="{_n(w)}" height="24" rx="6" '
                   f'fill="{HEADER_FILL}" stroke="#7f97c4"/>')
        out.append(_text(_Text(x, f.header_y + 16.5, lane, HEADER_FONT, "middle")))
        ys = [f.header_y + 24] + mids + [lay.y_end + 6]
        runs: list[tuple[float, float, bool]] = []
        for j in range(len(ys) - 1):
            down = j >= 1 and _is_down(c, lane, j - 1)
            if runs and runs[-1][2] == down:
                runs[-1] = (runs[-1][0], ys[j + 1], down)
            else:
                runs.append((ys[j], ys[j + 1], down))
        for y0, y1, down in runs:
            style = 'stroke="#cccccc" stroke-width="3" stroke-dasharray="6,4"' if down else 'stroke="#999999"'
            out.append(f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" y2="{_n(y1)}" {style}'
                       + (' class="down"' if down else "") + "/>")
        out.append("</g>")
    # messages
    for k in f.drawn:
        m = c.messages[k]
        (ax, ay), (bx, by) = _ends(f, lay, m)
        fate = m.fate.replace(" ", "")
        colour = _colour(m)
        width_attr = "2.2" if m.copy else "1.3"
        if m.fate == "delivered":
            style, marker = "", "fc-arrow"
        elif m.fate in ("dropped", "lost"):
            style, marker = ' stroke-dasharray="6,3"', "fc-tee"
        else:
            style, marker = ' stroke-dasharray="2,3"', "fc-open"
        end = m.end if m.end is not None else "the end"
        tip = f"{m.label}: {m.src}→{m.dst}, sent at step {m.sent}, {m.fate}" + \
            (f" at step {end}" if m.end is not None else "") + (" (a copy)" if m.copy else "")
        out.append(f'<g id="msg-{k}" class="msg {fate}' + (' copy' if m.copy else '') + f'"><title>{esc(tip)}</title>')
        common = f'fill="none" stroke="{colour}" stroke-width="{width_attr}"{style} marker-end="url(#{marker})"'
        if m.src == m.dst:
            out.append(f'<path d="M{_n(ax)},{_n(ay)} C{_n(ax + 36)},{_n(ay)} {_n(bx + 36)},{_n(by)} {_n(bx)},{_n(by)}" '
                       f'{common}/>')
        else:
            out.append(f'<line x1="{_n(ax)}" y1="{_n(ay)}" x2="{_n(bx)}" y2="{_n(by)}" {common}/>')
        out.append("</g>")
    # ticks and partitions: lines across the lanes
    for r in c.rows:
        if r.kind == "tick":
            i, y = r.index, mids[r.index]
            out.append(f'<g id="tick-{i}" class="tick"><line x1="{_n(f.step_x1 + 4)}" y1="{_n(y)}" '
                       f'x2="{_n(x_last + 16)}" y2="{_n(y)}" stroke="{BROWN}" stroke-dasharray="5,3"/>')
            out.append(_text(lay.texts[f"tick-{i}"], HALO))
            out.append("</g>")
    for a, b, _ in c.partitions:
        if len(L) < 2:
            continue
        for row, kind, colour in ((a, "partition", ORANGE), (b, "heal", GREEN)):
            if row is None:
                continue
            y = mids[row]
            out.append(f'<g id="{kind}-{row}" class="{kind}"><line x1="{_n(x_first - 12)}" y1="{_n(y)}" '
                       f'x2="{_n(x_last + 12)}" y2="{_n(y)}" stroke="{colour}" stroke-width="2" '
                       'stroke-dasharray="6,3"/>')
            out.append(_text(lay.texts[f"{kind}-{row}"], HALO))
            out.append("</g>")
    # cells: what happens on each lane at each row
    for i in range(n):
        for lane in L:
            x, y = f.xs[lane], mids[i]
            what = f.acting.get((i, lane))
            tip = f"{i}: {lane}"
            if lane in c.clocks:
                tip += f" (clock {offset_text(c.clocks[lane][i])}, t={c.time[i]})"
            inner = ""
            if what == "crash":
                inner = _text(_Text(x, y + 5.5, "✕", 16, "middle", RED), HALO)
            elif what == "restart":
                inner = (f'<circle cx="{_n(x)}" cy="{_n(y)}" r="8" fill="#ffffff" stroke="{GREEN}"/>'
                         + _text(_Text(x, y + 4.5, "↻", 12, "middle", GREEN)))
            elif what == "clock":
                colour = RED if c.rows[i].kind == "clock_jump" else BROWN
                inner = _text(_Text(x, y + 3.5, c.clock_mark(lane, i) or "◷", MARK_FONT, "middle", colour), HALO)
            elif what == "dot":
                inner = f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{DOT_R}" fill="{BLUE}"/>'
            beside = lay.texts.get(f"clock-{i}-{lane}")
            if beside is not None:
                inner += _text(beside, HALO)
            if inner:
                out.append(f'<g id="cell-{i}-{esc(lane)}" class="cell"><title>{esc(tip)}</title>{inner}</g>')
            else:
                out.append(f'<g id="cell-{i}-{esc(lane)}" class="cell"/>')
    # the labels of the messages, over every line
    out.append(f'<g class="labels"{HALO}>')
    for k in range(len(c.messages)):
        t = lay.texts.get(f"msg-{k}")
        if t is not None:
            out.append(_text(t, f' class="label" data-msg="{k}"'))
    out.append("</g>")
    if f.loop is not None:  # the lasso: from the last row back to where the cycle starts
        x0, x1 = MARGIN + 7, f.step_x0 - 1
        ya, yb = mids[n - 1], mids[f.loop]
        out.append(f'<g id="loop" class="loop"><title>steps {f.loop}–{n - 1} repeat forever</title>'
                   f'<path d="M{_n(x1)},{_n(ya)} H{_n(x0 + 6)} Q{_n(x0)},{_n(ya)} {_n(x0)},{_n(ya - 6)} '
                   f'V{_n(yb + 6)} Q{_n(x0)},{_n(yb)} {_n(x0 + 6)},{_n(yb)} H{_n(x1)}" fill="none" stroke="{PURPLE}" '
                   f'stroke-width="2" marker-end="url(#fc-loop)"/>')
        out.append(_text(lay.texts["loop"]))
        out.append("</g>")
    if vbox is not None:
        out.append(f'<g id="verdict" class="verdict"><rect x="{_n(vbox.x0)}" y="{_n(vbox.y0)}" '
                   f'width="{_n(vbox.x1 - vbox.x0)}" height="{_n(vbox.y1 - vbox.y0)}" rx="6" fill="{VERDICT_FILL}" '
                   f'stroke="{RED}"/>')
        out += [_text(t) for t in verdict]
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["Box", "esc", "message_text", "render", "text_box", "text_width"]
