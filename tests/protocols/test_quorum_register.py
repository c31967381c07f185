"""The ABD quorum register: linearizable with write-back, under a crash of a minority; without the
write-back a read shows the new-old inversion. Histories are also judged here by a brute force
written in the test, independent of the checker's linearizability search."""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations
from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.semantics import from_model
from checker.spec import load_spec
from checker.trace import Trace, replay
from protocols.quorum_register import ABD, NoWriteBack

ROOT = Path(__file__).resolve().parents[2]


def run(name, tmp_path, **params):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    if params:
        spec = spec.with_params(params)
    return spec, checker.check(spec, out=tmp_path)


def operations(events):
    """(process, f, value, invoked at, returned at or None) per operation of a recorded history."""
    ops, open_ = [], {}
    for i, e in enumerate(events):
        if e["kind"] == "invoke":
            open_[e["process"]] = len(ops)
            ops.append([e["process"], e["f"], e["value"], i, None])
        else:
            op = ops[open_.pop(e["process"])]
            op[2], op[4] = e["value"], i
    return [tuple(op) for op in ops]


def linearizable(events) -> bool:
    """Brute force: some order of the operations (pending ones included or left out) respects real
    time and register semantics, starting from nil."""
    ops = operations(events)
    done = [o for o in ops if o[4] is not None]
    pending = [o for o in ops if o[4] is None]
    for k in range(len(pending) + 1):
        for chosen in permutations(pending, k):
            for order in permutations(done + list(chosen)):
                pos = {o: i for i, o in enumerate(order)}
                if any(a[4] is not None and a[4] < b[3] and pos[a] > pos[b] for a in order for b in order):
                    continue
                value, ok = None, True
                for _, f, v, _, _ in order:
                    if f == "write":
                        value = v
                    elif v != value:
                        ok = False
                        break
                if ok:
                    return True
    return False


def reachable(model):
    """Every reachable state of a low-level model, by a plain search written here."""
    seen = set(model.initial_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for a in model.actions:
                for t in a.fn(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    return seen


def test_abd_is_linearizable_and_keeps_completed_tags_at_a_majority(tmp_path):
    spec, r = run("quorum_register_abd", tmp_path)
    assert r.ok and r.verdict is Verdict.HOLDS
    assert r.stats.coverage["StoreAck"] > 0 and r.stats.coverage["Read"] > 0
    model = spec.instantiate()
    states = reachable(model)
    assert r.stats.distinct == len(states)
    # the space is not vacuous: every client completes, in some order that interleaves them
    assert any(all(p == "done" for p in model.schema.view(s).phase.values()) for s in states)


def test_abd_under_a_crash_agrees_with_a_brute_force_on_every_history(tmp_path):
    spec, r = run("quorum_register_abd_crash", tmp_path)
    assert r.ok and r.verdict is Verdict.HOLDS and r.stats.coverage["Crash"] > 0
    model = spec.instantiate()
    states = reachable(model)
    assert len(states) == r.stats.distinct
    views = [model.schema.view(s) for s in states]
    histories = {tuple(tuple(e._asdict().items()) for e in v.history) for v in views}
    assert len(histories) > 10 and all(linearizable([dict(e) for e in h]) for h in histories)
    # every operation completes in some state where a replica is down: no one waits for it
    assert any(v.down and all(p == "done" for p in v.phase.values()) for v in views)


def test_a_majority_crashed_blocks_the_clients(tmp_path):
    _, r = run("quorum_register_abd_crash", tmp_path, crashes=2)
    assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
    last = r.trace.steps[-1].state
    assert len(last["down"]) == 2 and any(p in ("query", "store") for p in last["phase"].values())


def test_a_majority_crashed_violates_liveness_when_deadlock_is_not_checked(tmp_path):
    spec = load_spec(ROOT / "specs" / "quorum_register_abd_crash.toml").with_params({"crashes": 2})
    r = checker.check(replace(spec, check_deadlock=False), out=tmp_path)
    assert r.verdict is Verdict.VIOLATED and r.property == "OperationsComplete"


def test_skipping_the_write_back_gives_the_new_old_inversion(tmp_path):
    spec, r = run("quorum_register_no_write_back", tmp_path)
    # fewest steps by hand: the write begins, hears a majority, stores at one replica (4); each read
    # begins and hears a majority (3 + 3)
    assert r.ok and r.property == "Linearizable" and len(r.trace) == 10
    last = r.trace.steps[-1].state
    events = last["history"]
    assert not linearizable(events)
    ops = operations(events)
    (write,) = [o for o in ops if o[1] == "write"]
    first, second = sorted((o for o in ops if o[1] == "read"), key=lambda o: o[3])
    assert write[4] is None  # the write has not completed
    assert first[2] == 1 and second[2] is None and first[4] < second[3]  # new, then later old
    assert sum(v == 1 for v in last["value"].values()) == 1  # the new value sits at one replica only
    assert Trace.load(spec.counterexample_path()).steps[-1].state["history"] == events


def test_the_committed_counterexample_replays():
    spec = load_spec(ROOT / "specs" / "quorum_register_no_write_back.toml")
    assert replay(from_model(spec.instantiate()), Trace.load(spec.counterexample_path())).ok


def test_without_write_back_a_completed_read_is_not_at_a_majority(tmp_path):
    """The lemma fails before the history does: the first read returns a value held by one replica."""
    spec = load_spec(ROOT / "specs" / "quorum_register_no_write_back.toml")
    r = checker.check(
        replace(
            spec,
            invariants=("CompletedAtMajority",),
            counterexample=None,
            violates="CompletedAtMajority",
            consistency={},
        ),
        out=tmp_path,
    )
    assert r.ok and r.property == "CompletedAtMajority" and len(r.trace) < 10


@pytest.mark.parametrize("cls", [ABD, NoWriteBack])
def test_writers_and_readers_are_recorded_as_one_process_each(cls):
    model = cls(writers=2, readers=1, crashes=0)
    assert model.Client.names == ("writer1", "writer2", "reader1")
    assert model.schema.variables["history"].max_len == 6
