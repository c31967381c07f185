"""A trace as one self-contained HTML page to step through: the sequence chart (SVG drawn by faultcheck,
no Graphviz, inline, the current step's row highlighted), and for the selected step each node's state
with what changed highlighted; buttons and the keyboard (← →, Home, End, or j/k) move between steps;
clicking a row of the chart selects it. The violated property and why it fails head the page. With
time, the bar shows global time and what a tick or clock jump did, each node with a clock shows its
offset from global time ("◷ t+1"), and times read "now+2". Nothing is fetched: scripts, styles and data
are all inline.
"""

from __future__ import annotations

import html
import json

from .format import Trace, TraceStep, readable_state
from .msc import chart, offset_text, to_svg

_STYLE = """
:root { --fg: #1d1d1f; --muted: #666; --accent: #1f4e9a; --bad: #b00020; --changed: #fff1a8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); }
header { padding: 14px 22px 10px; border-bottom: 1px solid #ddd; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; }
header .verdict { color: var(--bad); font-weight: 600; }
.why { margin-top: 4px; }
.why code { background: #fde0e0; padding: 1px 5px; border-radius: 3px; }
main { display: grid; grid-template-columns: minmax(420px, 1.3fr) minmax(340px, 1fr); gap: 0; height: calc(100vh - 118px); }
#chart { overflow: auto; padding: 10px; border-right: 1px solid #ddd; }
#chart svg { max-width: 100%; height: auto; }
#chart g.row, #chart rect.stripe { cursor: pointer; }
#chart g.row.current rect { fill: #ffe082 !important; stroke: #e0a800; }
#chart rect.stripe.current { fill: #ffe082 !important; fill-opacity: 0.35; }
#chart g.cell.current circle { stroke: #e0a800; stroke-width: 3; }
#side { overflow: auto; padding: 12px 18px; }
nav { display: flex; align-items: center; gap: 6px; padding: 8px 22px; border-bottom: 1px solid #ddd; }
nav button { font-size: 16px; padding: 4px 12px; border: 1px solid #bbb; background: white; border-radius: 5px; cursor: pointer; }
nav button:hover { background: #eef3fb; }
#step-label { margin-left: 10px; font-weight: 600; }
.hint { color: var(--muted); margin-left: auto; font-size: 13px; }
.card { border: 1px solid #ddd; border-radius: 7px; margin: 0 0 10px; overflow: hidden; }
.card h3 { margin: 0; padding: 5px 10px; font-size: 14px; background: #e8eef9; }
.card.acting h3 { background: #1f4e9a; color: white; }
.card.down h3 { background: #bbb; color: #333; }
.card table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
.card td { padding: 3px 10px; border-top: 1px solid #f0f0f0; vertical-align: top; }
.card td.k { color: var(--muted); width: 32%; white-space: nowrap; }
tr.changed td { background: var(--changed); }
.old { color: var(--muted); text-decoration: line-through; margin-right: 6px; }
.core td.k::after { content: " ⚑"; color: var(--bad); }
#time { margin-left: 12px; color: #6d4c00; font-weight: 600; }
#step-note { margin-left: 10px; color: #6d4c00; }
.clock { float: right; font-weight: normal; font-size: 13px; padding: 0 6px; border-radius: 4px; background: #f6ecd6; color: #6d4c00; }
.clock.moved { background: var(--changed); }
.clock.jumped { background: #fde0e0; color: var(--bad); font-weight: 600; }
"""

# How a state's values read (`fmt`) and how a variable splits into rows (`rowsOf`): shared by this viewer and
# the explorer's page (checker/explorer/page.py), so both show a state alike.
STATE_JS = """
  const fmt = (v) => {
    if (v === null) return 'none';
    if (Array.isArray(v)) return '[' + v.map(fmt).join(', ') + ']';
    if (typeof v === 'object') {
      if ('msg' in v && 'src' in v && 'dst' in v) return fmt(v.msg) + ' ' + v.src + '→' + v.dst + ('age' in v ? ' (age ' + v.age + ')' : '');
      if ('type' in v) {
        const rest = Object.keys(v).filter(k => k !== 'type').map(k => fmt(v[k]));
        return rest.length ? v.type + '(' + rest.join(', ') + ')' : v.type;
      }
      return '{' + Object.keys(v).map(k => k + ': ' + fmt(v[k])).join(', ') + '}';
    }
    return String(v);
  };
  const rowsOf = (name, value) => {
    // a node's record (or a map of nodes) shows one row per field; anything else is one row
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && !('type' in value))
      return Object.keys(value).map(k => [name + '.' + k, k, value[k]]);
    return [[name, name, value]];
  };
"""

_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('trace-data').textContent);
  const steps = data.steps, lanes = data.lanes, core = data.core || [];
  let at = 0;
  /*STATE_JS*/
  const isCore = (path) => core.some(c => {
    const f = c.field.replace(/\\[(.*?)\\]/g, '.$1');
    return f === path || f.startsWith(path + '.');
  });
  function render() {
    const st = steps[at], prev = at > 0 ? steps[at - 1] : null;
    document.getElementById('step-label').textContent = at + '  ' + st.label;
    document.getElementById('position').textContent = 'step ' + at + ' of ' + (steps.length - 1);
    document.getElementById('time').textContent = data.timed ? 't=' + st.time : '';
    document.getElementById('step-note').textContent = st.note || '';
    const side = document.getElementById('state');
    side.innerHTML = '';
    for (const name of Object.keys(st.state)) {
      const card = document.createElement('div');
      card.className = 'card' + (st.lane === name ? ' acting' : '') + (st.down.includes(name) ? ' down' : '');
      card.dataset.name = name;
      const h = document.createElement('h3');
      h.textContent = name + (st.lane === name ? '  ← ' + st.label : '') + (st.down.includes(name) ? '  (down)' : '');
      if (name in st.clocks) {
        const off = st.clocks[name], clk = document.createElement('span');
        clk.className = 'clock' + (st.jump === name ? ' jumped' : prev && prev.clocks[name] !== off ? ' moved' : '');
        clk.textContent = '◷ ' + (off === 0 ? 't' : 't' + (off > 0 ? '+' : '') + off);
        clk.title = name + "'s clock: " + (off === 0 ? 'on global time' : Math.abs(off) + (off > 0 ? ' ahead of' : ' behind') + ' global time');
        h.appendChild(clk);
      }
      card.appendChild(h);
      const table = document.createElement('table');
      for (const [path, key, value] of rowsOf(name, st.state[name])) {
        const tr = document.createElement('tr');
        const before = prev ? rowsOf(name, prev.state[name]).find(r => r[0] === path) : null;
        const changed = before && JSON.stringify(before[2]) !== JSON.stringify(value);
        if (changed) tr.className = 'changed';
        if (at === steps.length - 1 && isCore(path)) tr.classList.add('core');
        tr.dataset.path = path;
        const k = document.createElement('td'); k.className = 'k'; k.textContent = key;
        const v = document.createElement('td'); v.className = 'v';
        if (changed) { const o = document.createElement('span'); o.className = 'old'; o.textContent = fmt(before[2]); v.appendChild(o); }
        const n = document.createElement('span'); n.className = 'new'; n.textContent = fmt(value); v.appendChild(n);
        tr.appendChild(k); tr.appendChild(v); table.appendChild(tr);
      }
      card.appendChild(table);
      side.appendChild(card);
    }
    document.querySelectorAll('#chart .current').forEach(g => g.classList.remove('current'));
    const row = document.getElementById('row-' + at), stripe = document.getElementById('stripe-' + at);
    if (stripe) stripe.classList.add('current');
    if (row) { row.classList.add('current'); row.scrollIntoView({block: 'nearest'}); }
    if (st.lane) { const c = document.getElementById('cell-' + at + '-' + st.lane); if (c) c.classList.add('current'); }
  }
  const go = (i) => { at = Math.max(0, Math.min(steps.length - 1, i)); render(); };
  document.getElementById('first').onclick = () => go(0);
  document.getElementById('back').onclick = () => go(at - 1);
  document.getElementById('next').onclick = () => go(at + 1);
  document.getElementById('last').onclick = () => go(steps.length - 1);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'j' || e.key === ' ') { go(at + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'k') { go(at - 1); e.preventDefault(); }
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(steps.length - 1);
  });
  for (let i = 0; i < steps.length; i++) {  // a row of the chart: its step's box, or anywhere across the lanes
    for (const id of ['row-' + i, 'stripe-' + i]) {
      const g = document.getElementById(id);
      if (g) g.addEventListener('click', () => go(i));
    }
  }
  window.faultcheckViewer = { go: go, at: () => at };
  render();
})();
""".replace("  /*STATE_JS*/\n", STATE_JS)


def step_note(step: TraceStep, time: int, before: dict[str, int], after: dict[str, int]) -> str:
    """What a tick or a clock's step did, in words, from the clocks' offsets before and after it ("" for
    other steps)."""
    def reading(n: str) -> str:
        return offset_text(after[n])

    if step.kind == "tick":
        now = ", ".join(f"{n} {reading(n)}" + (" (fell behind)" if n in before and after[n] < before[n] else "")
                        for n in after)
        return f"global time advances to t={time}" + (f"; the clocks read {now}" if now else "")
    if step.kind == "clock" and step.params and step.params[0] in after:
        n = step.params[0]
        return f"{n}'s clock runs ahead one unit (it reads {reading(n)}; global time t={time})"
    if step.kind == "clock_jump" and len(step.params) == 2:
        n = step.params[0]
        now = f"it reads {reading(n)}; " if n in after else ""
        return f"a fault: {n}'s clock jumps {step.params[1]} ({now}global time stays t={time})"
    return ""


def to_html(trace: Trace, svg: str | None = None) -> str:
    """The viewer page for `trace` (`svg`: the chart, drawn here by `svgchart` when not given; no Graphviz)."""
    c = chart(trace)
    svg = svg if svg is not None else to_svg(trace)
    svg = svg[svg.find("<svg"):]  # drop the XML prologue and doctype: the SVG sits inside HTML
    down_at = []
    for i in range(len(trace.steps)):
        down_at.append([lane for lane, spans in c.down.items() if any(a <= i and (b is None or i < b) for a, b in spans)])
    types = trace.extra.get("types")

    def clocks_at(i: int) -> dict[str, int]:
        return {n: v[i] for n, v in c.clocks.items()} if i >= 0 else {}

    data = {
        "lanes": c.lanes,
        "timed": bool(c.clocks) or any(st.kind == "tick" for st in trace.steps),
        "steps": [{"label": st.label, "state": readable_state(st.state, types), "lane": c.rows[i].lane,
                   "down": down_at[i], "time": c.time[i], "clocks": clocks_at(i),
                   "jump": c.jumps[i][0] if i in c.jumps else None,
                   "note": step_note(st, c.time[i], clocks_at(i - 1), clocks_at(i))}
                  for i, st in enumerate(trace.steps)],
        "core": core.get("fields", []) if isinstance(core := trace.extra.get("violation_core"), dict) else [],
    }
    what = f"violated: {trace.property}" if trace.verdict == "violated" and trace.property else trace.verdict
    why = ""
    if c.because:
        why = f'<div class="why">Why: <code>{html.escape(c.because)}</code></div>'
    if trace.reason:
        why += f'<div class="why">{html.escape(trace.reason)}</div>'
    loop = trace.extra.get("loop")
    if isinstance(loop, int):
        why += (f'<div class="why" id="lasso">A lasso: from step {loop} on, the steps repeat forever '
                f'(the last one returns to the state of step {loop}).</div>')
    title = f"{trace.protocol} — {what}"
    payload = json.dumps(data).replace("<", "\\u003c")  # no "</script>" or "<!--" from a state can end the script
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<header><h1>{html.escape(trace.protocol)} <span class="params">{html.escape(json.dumps(trace.params))}</span></h1>
<div><span class="verdict">{html.escape(what)}</span> after {len(trace)} steps{' — ' + html.escape(trace.spec) if trace.spec else ''}</div>
{why}</header>
<nav><button id="first" title="first step (Home)">|◀</button><button id="back" title="back (←)">◀</button>
<button id="next" title="forward (→)">▶</button><button id="last" title="last step (End)">▶|</button>
<span id="step-label"></span><span id="time"></span><span id="step-note"></span><span class="hint"><span id="position"></span> · ← → to step, click a row</span></nav>
<main><div id="chart">{svg}</div><div id="side"><div id="state"></div></div></main>
<script type="application/json" id="trace-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


__all__ = ["STATE_JS", "step_note", "to_html"]
