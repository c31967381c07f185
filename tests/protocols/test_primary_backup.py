"""Primary-backup: the correct variant holds under a crash; each broken one fails as its docstring says."""

import pytest

import checker
from checker.engine import Verdict
from checker.semantics.nodes import from_protocol
from checker.spec import check, load_spec
from checker.trace import Trace, replay

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def run(name, tmp_path):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    return spec, checker.check(spec, out=tmp_path)


def test_the_correct_variant_holds_with_a_crashed_server_and_counts_agree_with_a_plain_search(tmp_path):
    spec, r = run("primary_backup_ok", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["detect"] > 0
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [t for s in frontier for a in system.actions for t in a.successors(s) if not (t in seen or seen.add(t))]
    assert r.stats.distinct == len(seen)


def labels(r):
    return [st.label for st in r.trace.steps[1:]]


def test_acknowledging_early_loses_the_write_when_the_primary_crashes(tmp_path):
    spec, r = run("primary_backup_ack_early", tmp_path)
    assert r.ok and r.property == "NoLostWrite"
    assert labels(r) == [
        "write()@client1", "Write(1) client1→server1", "Ack(1) server1→client1", "crash server1",
        "vs1 detects the crash of server1",
    ]
    final = r.trace.steps[-1].state
    assert final["client1"]["acked"] == [1] and final["server2"]["log"] == []


def test_self_promotion_gives_a_stale_read(tmp_path):
    spec, r = run("primary_backup_split_brain", tmp_path)
    assert r.ok and r.property == "FreshReads"
    steps = labels(r)
    assert steps[0] == "timer suspect@server2" and steps[-1].startswith("ReadReply(1, 0) server1→")
    final = r.trace.steps[-1].state
    # two servers believe they are primary, in different epochs
    assert final["server1"]["primary"] == "server1" and final["server2"]["primary"] == "server2"


@pytest.mark.parametrize("name", ["primary_backup_ack_early", "primary_backup_split_brain"])
def test_committed_counterexamples_replay(name):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    assert replay(system, Trace.load(spec.counterexample_path())).ok


def test_the_failure_detector_never_reports_a_live_node(tmp_path):
    spec = load_spec(ROOT / "specs" / "primary_backup_ok.toml")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    (detect,) = [a for a in system.actions if a.kind == "detect"]
    seen, frontier = set(system.initial), list(system.initial)
    checked = 0
    while frontier and checked < 3000:
        nxt = []
        for s in frontier:
            v = system.schema.view(s)
            for (watcher, peer), t in detect.instances(s):
                checked += 1
                assert peer in v.down and watcher not in v.down
                assert peer in system.schema.view(t).detected[watcher]
            for a in system.actions:
                for t in a.successors(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    assert checked > 0


def test_a_crashed_client_changes_no_view(tmp_path):
    """The view service is told of every crash; a client's is none of its business."""
    text = (ROOT / "specs" / "primary_backup_ok.toml").read_text().replace('crashable = ["server"]',
                                                                          'crashable = ["server", "client"]')
    spec = tmp_path / "pb.toml"
    spec.write_text(text)
    r = check(spec, out=None)
    assert r.ok and r.verdict.value == "holds", r.message
