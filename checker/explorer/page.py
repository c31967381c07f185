"""The explorer's page: one HTML document, its styles and script inline (nothing is fetched but the API).

Three columns: the steps enabled in the current state (each a button labelled as in traces, faults in
red) above the invariants (a violated one in red, with its failing instance and the fields that make it
fail) and the reachability properties; the sequence chart of the path so far (click a row to go back to
it); the current state, node by node, with what the last step changed highlighted. The bar above has
restart, back, forward, the jumps (shortest counterexample, witnesses), a random walk of N steps, and
the exports (the path as a trace file, or as the trace viewer page). Keys: ← back, → forward.
Elements carry ids and data attributes (`data-label` on step buttons, `data-name` on properties) for
tests and scripts.
"""

from __future__ import annotations

from ..trace.html import STATE_JS

_STYLE = """
:root { --fg: #1d1d1f; --muted: #666; --accent: #1f4e9a; --bad: #b00020; --good: #1b5e20; --changed: #fff1a8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); }
header { padding: 10px 18px 6px; border-bottom: 1px solid #ddd; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 2px; }
.params { color: var(--muted); font-weight: normal; font-size: 13px; margin-left: 8px; }
#message { min-height: 1.4em; color: #6d4c00; }
#message.error { color: var(--bad); font-weight: 600; }
nav { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 7px 18px; border-bottom: 1px solid #ddd; }
nav button, nav a.button { font-size: 14px; padding: 3px 10px; border: 1px solid #bbb; background: white;
  border-radius: 5px; cursor: pointer; color: var(--fg); text-decoration: none; }
nav button:hover, nav a.button:hover { background: #eef3fb; }
nav button:disabled { opacity: .45; cursor: default; }
nav input { width: 4.5em; font-size: 14px; }
#position { font-weight: 600; margin: 0 8px; }
.sep { width: 1px; height: 22px; background: #ddd; margin: 0 4px; }
main { display: grid; grid-template-columns: minmax(250px, 320px) minmax(360px, 1fr) minmax(300px, 400px);
  height: calc(100vh - 104px); }
#left, #chart, #side { overflow: auto; padding: 10px 12px; }
#left, #chart { border-right: 1px solid #ddd; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 6px 0; }
#steps { display: flex; flex-direction: column; gap: 4px; }
#steps button.step { text-align: left; font-size: 13.5px; padding: 4px 8px; border: 1px solid #c9d5ea;
  background: #f4f7fc; border-radius: 5px; cursor: pointer; }
#steps button.step:hover { background: #dde7f7; }
#steps button.step.fault { border-color: #f0b8c0; background: #fdf0f2; color: var(--bad); }
#steps button.step.fault:hover { background: #f9dde2; }
#steps .none { color: var(--muted); font-style: italic; }
#steps .deadlock { color: var(--bad); font-weight: 600; }
ul.props { list-style: none; padding: 0; margin: 0 0 10px; }
ul.props li { padding: 3px 6px; border-radius: 4px; margin-bottom: 3px; }
ul.props li.holds::before { content: "✓ "; color: var(--good); }
ul.props li.violated { background: #fde0e0; color: var(--bad); font-weight: 600; }
ul.props li.violated::before { content: "✗ "; }
ul.props li.reached { background: #e3f3e5; color: var(--good); }
ul.props li.reached::before { content: "● "; }
ul.props li.unreached::before { content: "○ "; color: var(--muted); }
ul.props .why { font-weight: normal; font-size: 12.5px; margin-top: 2px; }
ul.props .why code { background: #fff; padding: 0 4px; border-radius: 3px; }
#chart svg { max-width: none; height: auto; }  /* its own size: a long chart scrolls, its text stays legible */
#chart .row, #chart g[id^="row-"] { cursor: pointer; }
#chart g.current rect, #chart g.current polygon { fill: #ffe082 !important; }
#chart rect.stripe.current { fill: #fff6d5 !important; }
#chart g.current text { font-weight: bold; }
.card { border: 1px solid #ddd; border-radius: 7px; margin: 0 0 9px; overflow: hidden; }
.card h3 { margin: 0; padding: 4px 10px; font-size: 13.5px; background: #e8eef9; }
.card.acting h3 { background: #1f4e9a; color: white; }
.card table { border-collapse: collapse; width: 100%; font-size: 13px; }
.card td { padding: 2px 10px; border-top: 1px solid #f0f0f0; vertical-align: top; }
.card td.k { color: var(--muted); width: 34%; white-space: nowrap; }
tr.changed td { background: var(--changed); }
.old { color: var(--muted); text-decoration: line-through; margin-right: 6px; }
#busy { display: none; color: var(--muted); margin-left: 8px; }
body.busy #busy { display: inline; }
"""

_SCRIPT = """
(function () {
  let view = null;
  const $ = (id) => document.getElementById(id);
  /*STATE_JS*/
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  async function call(method, path, data) {
    document.body.classList.add('busy');
    try {
      const r = await fetch(path, method === 'GET' ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                           body: JSON.stringify(data || {})});
      const answer = await r.json();
      if (answer.error) { showMessage(answer.error, true); return; }
      view = answer;
      render();
    } catch (e) {
      showMessage('the explorer does not answer (' + e + '): has it stopped?', true);
    } finally {
      document.body.classList.remove('busy');
    }
  }
  function showMessage(text, error) {
    const m = $('message');
    m.textContent = text || '';
    m.className = error ? 'error' : '';
  }
  function renderSteps() {
    const box = $('steps');
    box.innerHTML = '';
    if (!view.enabled.length) {
      box.appendChild(el('div', view.deadlock ? 'deadlock' : 'none',
        view.beyond.length ? 'beyond the constraint ' + view.beyond.join(', ') + ': the checker explores no further'
        : view.deadlock ? 'deadlock: nothing is enabled' : 'a terminal state: nothing is enabled'));
    }
    for (const s of view.enabled) {
      const b = el('button', 'step' + (s.fault ? ' fault' : ''), s.label);
      b.dataset.label = s.label;
      b.dataset.index = s.index;
      b.dataset.kind = s.kind;
      b.onclick = () => call('POST', 'api/take', {index: s.index});
      box.appendChild(b);
    }
  }
  function renderProps() {
    const ul = $('invariants');
    ul.innerHTML = '';
    for (const p of view.invariants) {
      const li = el('li', p.holds ? 'holds' : 'violated', p.name);
      li.dataset.name = p.name;
      if (!p.holds) {
        const why = el('div', 'why');
        if (p.error) why.appendChild(el('span', '', p.error));
        if (p.instance && p.instance.length) why.appendChild(el('div', '', 'instance: ' + p.instance.join(', ')));
        if (p.fields && p.fields.length) {
          const d = el('div', '', 'because ');
          p.fields.forEach((f, i) => { if (i) d.appendChild(document.createTextNode(', '));
                                       d.appendChild(el('code', '', f.field + ' = ' + fmt(f.value))); });
          why.appendChild(d);
        }
        if (p.explanation) why.appendChild(el('div', '', p.explanation));
        li.appendChild(why);
      }
      ul.appendChild(li);
    }
    if (!view.invariants.length) ul.appendChild(el('li', 'none', 'no invariants'));
    const r = $('reachables');
    r.innerHTML = '';
    $('reach-head').style.display = view.reachables.length ? '' : 'none';
    for (const p of view.reachables) {
      const li = el('li', p.reached ? 'reached' : 'unreached', p.name);
      li.dataset.name = p.name;
      r.appendChild(li);
    }
  }
  function renderState() {
    const side = $('state');
    side.innerHTML = '';
    const st = view.state, prev = view.previous;
    for (const name of Object.keys(st)) {
      const card = el('div', 'card');
      card.dataset.name = name;
      card.appendChild(el('h3', '', name));
      const table = el('table');
      for (const [path, key, value] of rowsOf(name, st[name])) {
        const tr = el('tr');
        tr.dataset.path = path;
        const before = prev ? rowsOf(name, prev[name]).find(r => r[0] === path) : null;
        const changed = before && JSON.stringify(before[2]) !== JSON.stringify(value);
        if (changed) tr.className = 'changed';
        const v = el('td', 'v');
        if (changed) v.appendChild(el('span', 'old', fmt(before[2])));
        v.appendChild(el('span', 'new', fmt(value)));
        tr.appendChild(el('td', 'k', key));
        tr.appendChild(v);
        table.appendChild(tr);
      }
      card.appendChild(table);
      if (table.querySelector('tr.changed')) card.classList.add('acting');
      side.appendChild(card);
    }
  }
  function renderChart() {
    const box = $('chart');
    box.innerHTML = view.chart.slice(view.chart.indexOf('<svg'));
    const row = document.getElementById('row-' + view.position);
    if (row) { row.classList.add('current'); row.scrollIntoView({block: 'nearest'}); }
    const stripe = document.getElementById('stripe-' + view.position);
    if (stripe) stripe.classList.add('current');
    for (let i = 0; i <= view.position; i++) {
      const g = document.getElementById('row-' + i);
      if (g) g.addEventListener('click', () => call('POST', 'api/goto', {position: i}));
    }
  }
  function render() {
    $('position').textContent = 'step ' + view.position + (view.last > view.position ? ' of ' + view.last : '');
    $('last-step').textContent = view.step ? '← ' + view.step : 'initial state';
    $('back').disabled = view.position === 0;
    $('forward').disabled = view.last === view.position;
    const bad = view.invariants.filter(p => !p.holds).map(p => p.name);
    showMessage(view.message || (bad.length ? 'violated: ' + bad.join(', ') : ''), false);
    const jumps = $('jumps');
    jumps.innerHTML = '';
    for (const j of view.jumps) {
      const b = el('button', 'jump', '⇥ ' + j.label);
      b.id = 'jump-' + j.name.replace(/[^A-Za-z0-9_-]/g, '_');
      b.dataset.name = j.name;
      b.onclick = () => { showMessage('searching…', false); call('POST', 'api/jump', {name: j.name}); };
      jumps.appendChild(b);
    }
    const sel = $('initial');
    sel.style.display = view.initial > 1 ? '' : 'none';
    if (sel.options.length !== view.initial) {
      sel.innerHTML = '';
      for (let i = 0; i < view.initial; i++) sel.appendChild(new Option('initial state ' + i, i));
    }
    document.body.dataset.position = view.position;
    document.body.dataset.verdict = view.verdict;
    renderSteps(); renderProps(); renderState(); renderChart();
  }
  $('restart').onclick = () => call('POST', 'api/restart', {initial: Number($('initial').value || 0)});
  $('back').onclick = () => call('POST', 'api/back');
  $('forward').onclick = () => call('POST', 'api/forward');
  $('walk').onclick = () => call('POST', 'api/walk', {steps: Number($('walk-steps').value || 10)});
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    if (e.key === 'ArrowLeft') { call('POST', 'api/back'); e.preventDefault(); }
    else if (e.key === 'ArrowRight') { call('POST', 'api/forward'); e.preventDefault(); }
  });
  window.faultcheckExplorer = { view: () => view, call: call };
  call('GET', 'api/state');
})();
""".replace("  /*STATE_JS*/\n", STATE_JS)

PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultcheck explorer</title><link rel="icon" href="data:,"><style>{_STYLE}</style></head>
<body>
<header><h1 id="title">faultcheck explorer<span class="params" id="params"></span></h1>
<div id="message"></div></header>
<nav><button id="restart" title="back to an initial state, forgetting the path">⟲ restart</button>
<select id="initial" title="which initial state" style="display:none"></select>
<button id="back" title="undo the last step (←)">◀ back</button>
<button id="forward" title="redo (→)">forward ▶</button>
<span id="position"></span><span id="last-step"></span><span class="sep"></span>
<span id="jumps"></span><span class="sep"></span>
<button id="walk" title="take N steps, each chosen at random among those enabled">random walk</button>
<input id="walk-steps" type="number" min="1" value="10" title="steps"><span class="sep"></span>
<a class="button" id="export" href="api/trace" download title="the path as a trace file: faultcheck show / replay read it">⤓ trace</a>
<a class="button" id="export-html" href="api/viewer" download title="the path as a page to step through">⤓ viewer</a>
<span id="busy">working…</span></nav>
<main><div id="left"><h2>enabled steps</h2><div id="steps"></div>
<h2>invariants</h2><ul class="props" id="invariants"></ul>
<h2 id="reach-head">reachable</h2><ul class="props" id="reachables"></ul></div>
<div id="chart"></div><div id="side"><h2>state</h2><div id="state"></div></div></main>
<script>{_SCRIPT}</script>
<script>
fetch('api/state').then(r => r.json()).then(v => {{
  if (v.protocol) {{
    document.getElementById('title').firstChild.textContent = v.protocol.split(':').pop() + ' ';
    document.getElementById('params').textContent = (v.spec ? v.spec + '  ' : '') + JSON.stringify(v.params);
    document.title = 'explore ' + (v.spec || v.protocol);
  }}
}});
</script>
</body></html>
"""

__all__ = ["PAGE"]
