"""The liveness engine on small hand-built graphs: fairness semantics (weak, strong, unfair faults),
stuttering at dead ends, lasso shape; and, on random graphs, the fair-cycle search against a brute
force over every set of states."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine.liveness import (
    NONE,
    STRONG,
    WEAK,
    Fairness,
    Graph,
    check_always_eventually,
    check_eventually,
    check_leads_to,
)
from checker.model import Int, StateSchema
from checker.semantics import Action, TransitionSystem

SCHEMA = StateSchema({"x": Int(0, 15)})


def system(edges: dict[str, tuple[str, list[tuple[int, int]]]], initial=(0,)) -> TransitionSystem:
    """`edges`: action name -> (kind, [(from, to), ...]); states are (x,)."""
    actions = []
    for name, (kind, pairs) in edges.items():
        def succ(s, pairs=pairs):
            return [(b,) for a, b in pairs if a == s[0]]

        def inst(s, succ=succ):
            return [((), t) for t in succ(s)]

        actions.append(Action(name, succ, inst, kind=kind))
    return TransitionSystem("t", SCHEMA, [(i,) for i in initial], actions)


ALL_WEAK = Fairness({"action": WEAK})
UNFAIR = Fairness({})


def is_x(*values):
    return lambda s: s[0] in values


def valid(g: Graph, lasso, fairness: Fairness | None = None) -> bool:
    """Every step of the lasso is a step of the graph, or a stutter where no fair step is enabled."""
    path = lasso.prefix + lasso.cycle
    if path[0] not in [g.states[v] for v in g.initial] or lasso.cycle[0] != lasso.cycle[-1]:
        return False
    for a, b in zip(path, path[1:]):
        v = g.ids[a]
        if any(g.states[w] == b for w, _ in g.edges(v)):
            continue
        if a != b or fairness is not None and any(fairness.of(g.classes[c]) != NONE for _, c in g.edges(v)):
            return False
    return True


def test_a_chain_eventually_gets_there_when_its_steps_are_fair():
    g = Graph(system({"step": ("action", [(0, 1), (1, 2)])}))
    assert check_eventually(g, is_x(2), ALL_WEAK) is None


def test_a_dead_end_stutters_and_violates_eventually():
    g = Graph(system({"step": ("action", [(0, 1)])}))
    lasso = check_eventually(g, is_x(2), ALL_WEAK)
    assert lasso is not None and valid(g, lasso)
    assert lasso.prefix == [(0,)] and lasso.cycle == [(1,), (1,)]


def test_an_idle_loop_is_unfair_to_the_step_it_starves_under_weak_fairness():
    g = Graph(system({"step": ("action", [(0, 1)]), "idle": ("action", [(0, 0)])}))
    assert check_eventually(g, is_x(1), ALL_WEAK) is None
    lasso = check_eventually(g, is_x(1), UNFAIR)  # no fairness: idling (or stopping) forever is a behaviour
    assert lasso is not None and lasso.cycle == [(0,), (0,)] and valid(g, lasso)
    # with no fairness at all a system may stop anywhere, as in TLA+
    assert check_eventually(Graph(system({"step": ("action", [(0, 1)])})), is_x(1), UNFAIR).cycle == [(0,), (0,)]


def test_a_step_enabled_only_now_and_then_needs_strong_fairness():
    # 0 <-> 1 forever; `go` (to 2) is enabled in 0 only, so never continuously
    edges = {"flip": ("action", [(0, 1), (1, 0)]), "go": ("action", [(0, 2)])}
    g = Graph(system(edges))
    weak = check_eventually(g, is_x(2), ALL_WEAK)
    assert weak is not None and valid(g, weak) and set(weak.cycle) == {(0,), (1,)}
    assert check_eventually(g, is_x(2), Fairness({"action": STRONG})) is None


def test_fault_steps_are_never_fair_by_default():
    # from 0 the system may finish, or crash (and restart, back to 0) over and over
    edges = {"finish": ("action", [(0, 3)]), "crash": ("crash", [(0, 1)]), "restart": ("restart", [(1, 0)])}
    g = Graph(system(edges))
    assert {Fairness().of(c) for c in g.classes if c.kind != "action"} == {NONE}
    # finish is enabled in 0 only, not continuously: weak fairness lets crashes starve it
    lasso = check_eventually(g, is_x(3), Fairness())
    assert lasso is not None and valid(g, lasso) and set(lasso.cycle) == {(0,), (1,)}
    # restarts are unfair too: a crashed system may stay down forever
    lasso = check_eventually(g, is_x(3), Fairness({"action": STRONG}))
    assert lasso is not None and lasso.cycle == [(1,), (1,)]
    # a fair restart, and finish strongly fair (enabled infinitely often, so taken): it finishes
    assert check_eventually(g, is_x(3), Fairness({"action": STRONG, "restart": WEAK})) is None
    # nor does a crash that is never followed by a restart: a crashed system that stays down stops
    down = Graph(system({"finish": ("action", [(0, 3)]), "crash": ("crash", [(0, 1)])}))
    lasso = check_eventually(down, is_x(3), Fairness())
    assert lasso is not None and lasso.cycle == [(1,), (1,)]  # stuck after the crash
    assert check_eventually(Graph(system({"finish": ("action", [(0, 3)])})), is_x(3), Fairness()) is None


def test_leads_to_needs_q_after_every_p():
    # 0 -> 1 (P) -> 2 -> 3 (Q); 2 may idle
    edges = {"step": ("action", [(0, 1), (1, 2), (2, 3)]), "idle": ("action", [(2, 2)])}
    g = Graph(system(edges))
    assert check_leads_to(g, is_x(1), is_x(3), ALL_WEAK) is None
    lasso = check_leads_to(g, is_x(1), is_x(3), UNFAIR)  # unfair: it may stop right at P (the nearest cycle)
    assert lasso is not None and valid(g, lasso) and lasso.prefix == [(0,)] and lasso.cycle == [(1,), (1,)]
    only_idle_unfair = Fairness({"action": WEAK, "idle": NONE})  # step weakly fair: stopping is not allowed,
    assert check_leads_to(g, is_x(1), is_x(3), only_idle_unfair) is None  # and idling forever starves it


def test_always_eventually_fails_on_a_cycle_that_ends_up_avoiding_p():
    # 0 -> 1 -> 0 visits P=0 forever; 1 -> 2 -> 2 leaves it for good
    edges = {"a": ("action", [(0, 1), (1, 0)]), "b": ("action", [(1, 2)]), "spin": ("action", [(2, 2)])}
    g = Graph(system(edges))
    lasso = check_always_eventually(g, is_x(0), ALL_WEAK)
    assert lasso is not None and valid(g, lasso) and lasso.cycle == [(2,), (2,)]
    no_exit = Graph(system({"a": ("action", [(0, 1), (1, 0)])}))
    assert check_always_eventually(no_exit, is_x(0), ALL_WEAK) is None


# -- random graphs against a brute force -------------------------------------------------------------------


def brute_eventually(n, edges, initial, p, kinds) -> bool:
    """Whether some fair behaviour avoids P forever: some set S of not-P states, reachable from an
    initial state through not-P states, strongly connected by its own edges (or one dead end), such
    that the cycle taking every internal edge is fair."""
    out = {v: [(w, c) for (a, w, c) in edges if a == v] for v in range(n)}
    reach, todo = set(), [v for v in initial if not p(v)]
    reach.update(todo)
    while todo:
        v = todo.pop()
        for w, _ in out[v]:
            if w not in reach and not p(w):
                reach.add(w)
                todo.append(w)
    for k in range(1, len(reach) + 1):
        for subset in combinations(sorted(reach), k):
            s = set(subset)
            inner = [(a, w, c) for a in s for (w, c) in out[a] if w in s]
            if k > 1 and not strongly_connected(s, inner):
                continue  # one state is a cycle by itself: it may stutter
            taken = {c for _, _, c in inner}
            enabled = [{c for _, c in out[v]} for v in s]
            everywhere = set.intersection(*enabled)
            somewhere = set.union(*enabled)
            if any(kinds[c] == WEAK and c not in taken for c in everywhere):
                continue
            if any(kinds[c] == STRONG and c not in taken for c in somewhere):
                continue
            return True
    return False


def strongly_connected(s: set[int], inner: list) -> bool:
    first = next(iter(s))
    for forward in (True, False):
        seen, todo = {first}, [first]
        while todo:
            v = todo.pop()
            for a, w, _ in inner:
                x, y = (a, w) if forward else (w, a)
                if x == v and y not in seen:
                    seen.add(y)
                    todo.append(y)
        if seen != s:
            return False
    return True


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 6))
    n_classes = draw(st.integers(1, 4))
    kinds = [draw(st.sampled_from([WEAK, STRONG, NONE])) for _ in range(n_classes)]
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, n_classes - 1)),
                          max_size=12, unique=True))
    p_states = draw(st.sets(st.integers(0, n - 1), max_size=n))
    return n, kinds, edges, p_states


@settings(max_examples=300, deadline=None, derandomize=True)
@given(graphs())
def test_the_fair_cycle_search_agrees_with_a_brute_force(case):
    n, kinds, edges, p_states = case
    # one action per class; its kind decides its fairness
    names = [f"c{c}" for c in range(len(kinds))]
    kind_of = {WEAK: "weak", STRONG: "strong", NONE: "none"}
    acts = {names[c]: (kind_of[kinds[c]], [(a, w) for (a, w, cc) in edges if cc == c]) for c in range(len(kinds))}
    g = Graph(system(acts))
    fairness = Fairness({"weak": WEAK, "strong": STRONG, "none": NONE})
    # the graph only holds what is reachable from 0; the brute force gets the same edges
    reachable = {g.states[v][0] for v in range(len(g))}
    es = [(a, w, c) for (a, w, c) in edges if a in reachable]
    want = brute_eventually(n, es, [0], lambda v: v in p_states, kinds)
    lasso = check_eventually(g, lambda s: s[0] in p_states, fairness)
    assert (lasso is not None) == want
    if lasso is not None:
        assert valid(g, lasso, fairness)
        assert not any(s[0] in p_states for s in lasso.prefix + lasso.cycle)


# -- liveness in specs ----------------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from checker.cli import main  # noqa: E402
from checker.spec import check  # noqa: E402
from checker.trace import Trace  # noqa: E402

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec_with(tmp_path, name: str, edit) -> Path:
    text = edit((SPECS / name).read_text())
    out = tmp_path / name
    out.write_text(text)
    return out


def test_a_coordinator_that_stays_down_blocks_prepared_rms_forever(tmp_path):
    r = check(SPECS / "two_phase_commit_blocking.toml", out=tmp_path)
    assert r.ok and r.property == "PreparedRMsDecide"
    t = r.trace
    loop = t.extra["loop"]
    assert t.steps[-1].kind == "stutter" and t.steps[-1].state == t.steps[loop].state
    last = t.steps[-1].state
    assert "tm1" in last["down"] and "prepared" in {last["rm1"]["state"], last["rm2"]["state"]}
    assert any(s.kind == "crash" for s in t.steps)


def test_with_a_fair_restart_every_prepared_rm_decides_and_without_it_not(tmp_path):
    assert check(SPECS / "two_phase_commit_recovery.toml", out=None).ok
    unfair = spec_with(tmp_path, "two_phase_commit_recovery.toml", lambda s: s.replace(
        'restart = "weak"', 'restart = "none"').replace('expected = "holds"',
                                                        'expected = "violated"\nviolates = "PreparedRMsDecide"'))
    r = check(unfair, out=None)
    assert r.ok and r.trace.steps[-1].kind == "stutter" and "tm1" in r.trace.steps[-1].state["down"]


def test_a_lasso_that_needs_an_exhausted_budget_is_undetermined(tmp_path):
    spec = spec_with(tmp_path, "two_phase_commit_recovery.toml",
                     lambda s: s.replace("restarts = true", "restarts = true\ntimer_firings = 0"))
    r = check(spec, out=None)
    assert (r.exit_code, r.verdict.value) == (3, "undetermined") and "timer budget" in r.message


def test_a_committed_lasso_replays_and_a_broken_one_is_stale(tmp_path, capsys):
    spec = spec_with(tmp_path, "heartbeat_unfair.toml", lambda s: s.replace(
        "counterexamples/heartbeat_unfair.json", str(tmp_path / "h.json")))
    good = Trace.load(SPECS.parent / "counterexamples" / "heartbeat_unfair.json")
    good.save(tmp_path / "h.json")
    assert main(["check", "-q", "--no-lint", "--out", str(tmp_path / "o"), str(spec)]) == 0
    assert "replays" in capsys.readouterr().out
    broken = Trace.load(tmp_path / "h.json")
    broken.extra["loop"] = 0  # the cycle no longer closes
    broken.save(tmp_path / "h.json")
    assert main(["check", "-q", "--no-lint", "--out", str(tmp_path / "o"), str(spec)]) == 1
    assert "no longer ends in a violation" in capsys.readouterr().out


def test_heartbeat_completeness_needs_fair_time():
    assert check(SPECS / "heartbeat_complete.toml", out=None).ok
    r = check(SPECS / "heartbeat_unfair.toml", out=None)
    assert r.ok and [s.label for s in r.trace.steps[1:-1]] == ["Crash(n1)"]  # crash, then time stops


def test_fairness_names_are_checked(tmp_path):
    spec = spec_with(tmp_path, "heartbeat_complete.toml", lambda s: s.replace('Tick = "weak"', 'Tock = "weak"'))
    try:
        check(spec, out=None)
    except Exception as e:
        assert "fairness: 'Tock' is neither a step kind" in str(e)
    else:
        raise AssertionError("an unknown fairness key was accepted")
    spec = spec_with(tmp_path, "heartbeat_complete.toml", lambda s: s.replace('Tick = "weak"', 'Tick = "often"'))
    try:
        check(spec, out=None)
    except Exception as e:
        assert "fairness.Tick: expected one of 'weak', 'strong', 'none'" in str(e)
    else:
        raise AssertionError("an unknown fairness value was accepted")


def test_with_fifo_channels_delivery_is_fair_per_channel():
    from checker.spec.run import prepare

    spec = SPECS / "two_phase_commit_recovery.toml"
    unordered, _ = prepare(spec)
    g = Graph(unordered)
    per_message = {c.params for c in g.classes if c.kind == "deliver"}
    assert all(len(p) == 3 for p in per_message)  # (src, dst, message)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fifo_spec = Path(tmp) / "fifo.toml"
        fifo_spec.write_text(spec.read_text().replace("[faults]", '[network]\nordering = "fifo"\n\n[faults]'))
        fifo, _ = prepare(fifo_spec)
        h = Graph(fifo)
        channels = {c.params for c in h.classes if c.kind == "deliver"}
        assert channels and all(len(p) == 2 for p in channels)  # (src, dst): one class per channel
        assert len(channels) < len(per_message)
        r = check(fifo_spec, out=None)
        assert r.ok, r.message  # the recovery still holds with fair FIFO channels
