"""Three-phase commit: atomic and nonblocking under crashes with a perfect failure detector; not
atomic when a timeout also fires across a partition; and not atomic when participants obey a
coordinator they have replaced. Properties are re-checked here by a search of the test's own."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

import checker
import protocols.three_phase_commit as tpc
from checker.engine import Verdict
from checker.model.faults import Faults
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DECIDED = ("committed", "aborted")


def run(name, tmp_path, **changes):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    if changes:
        spec = replace(spec, **changes)
    return spec, checker.check(spec, out=tmp_path)


def atomic(v, names, with_coordinator=True):
    """No participant committed while another aborted; none disagrees with the coordinator."""
    states = {v[n].state for n in names}
    coord = v.coord1.state
    return not ({"committed", "aborted"} <= states) and not (
        with_coordinator and coord in DECIDED and (states & set(DECIDED)) - {coord}
    )


def explore(spec):
    """Breadth-first search of the test's own: every reachable state, its depth, and its successors
    by steps other than faults (what is left to happen when nothing fails any more)."""
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    depth = {s: 0 for s in system.initial}
    calm: dict[tuple, int] = {}
    frontier = list(system.initial)
    while frontier:
        nxt = []
        for s in frontier:
            calm[s] = 0
            for a in system.actions:
                for t in a.successors(s):
                    if a.kind not in ("crash", "partition", "heal"):
                        calm[s] += 1
                    if t not in depth:
                        depth[t] = depth[s] + 1
                        nxt.append(t)
        frontier = nxt
    return system, depth, calm


def down(v, system):
    return set(v.down) if "down" in system.schema.variables else set()


def test_crash_stop_with_a_perfect_detector_is_atomic_and_nonblocking(tmp_path):
    spec, r = run("three_phase_commit_crash", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["detect"] > 0
    system, depth, calm = explore(spec)
    assert r.stats.distinct == len(depth)
    names = system.schema.groups["part"]
    took_over_twice = False
    for s in depth:
        v = system.schema.view(s)
        assert atomic(v, names)
        if not calm[s]:  # nothing left to do but fail: every live participant has decided (nonblocking)
            assert all(v[n].state in DECIDED for n in names if n not in down(v, system))
        if down(v, system) == {"coord1", "part1"} and v.part2.leader == "part2" and v.part2.state in DECIDED:
            took_over_twice = True  # the coordinator failed, then the participant that took over from it
    assert took_over_twice


def test_beyond_the_spec_every_site_may_crash_and_three_participants_stay_atomic(tmp_path):
    _, r = run("three_phase_commit_crash", tmp_path, faults=Faults(crashes=3))
    assert r.verdict is Verdict.HOLDS and r.ok
    spec, r = run("three_phase_commit_crash", tmp_path, params={"parts": 3}, faults=Faults(crashes=1), liveness=())
    assert r.verdict is Verdict.HOLDS and r.ok and r.stats.distinct > 10_000


@settings(max_examples=6, deadline=None)
@given(crashes=st.integers(0, 2), crashable=st.sets(st.sampled_from(["coord1", "part1", "part2"]), min_size=1))
def test_any_crash_budget_keeps_3pc_atomic_and_nonblocking(tmp_path_factory, crashes, crashable):
    faults = Faults(crashes=crashes, crashable=tuple(sorted(crashable)))
    _, r = run("three_phase_commit_crash", tmp_path_factory.mktemp("c"), faults=faults)
    assert r.verdict is Verdict.HOLDS and r.ok


def shortest_violation(spec):  # of Atomicity: among participants
    system, depth, _ = explore(spec)
    names = system.schema.groups["part"]
    return min(d for s, d in depth.items() if not atomic(system.schema.view(s), names, with_coordinator=False))


def test_a_partition_makes_one_side_commit_and_the_other_abort(tmp_path):
    spec, r = run("three_phase_commit_partition", tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "Atomicity"
    steps = r.trace.steps
    assert len(steps) - 1 == 11 == shortest_violation(spec)
    kinds = [st.kind for st in steps[1:]]
    assert "crash" not in kinds and kinds.count("partition") == 1 and "heal" not in kinds
    k = kinds.index("partition") + 1
    before = steps[k - 1].state  # the network splits after part1 precommitted, part2 still uncertain
    assert before["part1"]["state"] == "precommitted" and before["part2"]["state"] == "uncertain"
    assert steps[k].label == "partition {coord1, part1} | {part2}"
    final = steps[-1].state
    assert final["partition"] == ["part2"]  # still split
    assert final["coord1"]["state"] == final["part1"]["state"] == "committed"  # the precommitted side
    assert final["part2"]["state"] == "aborted" and final["part2"]["leader"] == "part2"  # the uncertain side
    # every timeout on the way was about a live, unreachable site
    assert all(st.params[-1] == "unreachable" for st in steps[1:] if st.kind == "detect")


def test_the_same_partition_with_a_perfect_detector_blocks_but_stays_atomic(tmp_path):
    spec = load_spec(ROOT / "specs" / "three_phase_commit_partition.toml")
    perfect = replace(
        spec, faults=replace(spec.faults, detector="perfect"), expected="holds", violates=None, counterexample=None
    )
    r = checker.check(perfect, out=tmp_path)
    assert (
        r.verdict is Verdict.HOLDS and r.ok and r.stats.coverage["partition"] > 0 and "detect" not in r.stats.coverage
    )


def test_obeying_a_replaced_coordinator_breaks_atomicity(tmp_path):
    spec, r = run("three_phase_commit_stale_precommit", tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "Atomicity"
    steps = r.trace.steps
    assert len(steps) - 1 == 12 == shortest_violation(spec)
    k = next(i for i, st in enumerate(steps) if st.label == "PreCommit coord1→part2")
    assert steps[k - 1].state["part2"]["leader"] == "part1"  # it had answered part1's StateReq already
    assert steps[k - 1].state["down"] == ["coord1"]  # ... and the PreCommit comes from a crashed coordinator
    final = steps[-1].state
    assert final["down"] == ["coord1", "part1"] and final["part1"]["state"] == "aborted"  # its durable log
    assert final["part2"]["state"] == "committed"
    # the correct participants ignore that PreCommit: the same faults, no violation
    correct = replace(spec, model_class=tpc.ThreePhaseCommit, expected="holds", violates=None, counterexample=None)
    assert checker.check(correct, out=tmp_path).verdict is Verdict.HOLDS
