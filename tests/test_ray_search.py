"""`check --ray` on a real two-host Ray cluster (tests/raycluster.py: two raylets on 127.0.0.1).

- a spec of more than 100,000 states, sharded over an actor on each host, gives one process's
  counts, depth, verdict and coverage;
- every search spec in specs/ (spreading out from the first level) gives one process's result,
  counterexample included;
- an actor whose process is killed mid-run: the shards start again and the counts are the same.

Marked slow (the cluster takes about 15 s to start): `.ci/run` runs them with `pytest -m slow`, where a
missing Ray fails (FAULTCHECK_REQUIRE_RAY=1) instead of skipping.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from checker.spec import check
from checker.spec.load import load_spec
from tests.raycluster import SKIP_REASON, LocalCluster, ray_available

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

if ray_available() is not None and os.environ.get("FAULTCHECK_REQUIRE_RAY") != "1":
    pytest.skip(SKIP_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster() as c:
        for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED"):
            os.environ[k] = c.env[k]  # this process is the cluster's driver
        try:
            yield c
        finally:
            import ray

            ray.shutdown()
            from checker.engine import onray

            onray._HOSTS.clear()
    assert not c.processes(), "a process of the Ray cluster outlived it"


def key(r):
    trace = r.trace.to_json() if r.trace is not None else None
    if isinstance(trace, dict):
        trace = {k: v for k, v in trace.items() if k not in ("stats", "seconds", "created", "faultcheck")}
    return (r.verdict, r.property, r.stats.distinct, r.stats.generated, r.stats.depth, r.stats.coverage, trace)


def test_a_spec_of_300k_states_across_two_hosts_equals_one_process(cluster):
    from checker.engine import onray

    spec = ROOT / "specs" / "two_phase_commit_tla.toml"
    one = check(spec, params={"rms": 7}, out=None)
    assert one.stats.distinct == 296_448  # TLC's count for 7 RMs
    on_ray = check(spec, params={"rms": 7}, out=None, ray=cluster.address, ray_workers=2)
    assert key(on_ray) == key(one)
    placed = {node for _, node in onray.last_placement}
    assert placed == set(cluster.node_ids.values()), "the two shards did not run on the two hosts"


SPECS = [p for p in sorted(glob.glob(str(ROOT / "specs" / "*.toml")))
         if load_spec(p).kind != "induct" and not load_spec(p).slow]


@pytest.mark.parametrize("path", SPECS, ids=[Path(p).stem for p in SPECS])
def test_every_search_spec_on_ray_equals_one_process(path, cluster):
    one = check(path, out=None)
    on_ray = check(path, out=None, ray=cluster.address, ray_workers=2, parallel_min=1)
    assert key(on_ray) == key(one)


KILLER = '''
import os
from pathlib import Path
from checker import constraint
from protocols.two_phase_commit_tla import TwoPhase

HERE = Path(__file__).resolve().parent


class Killer(TwoPhase):
    """TwoPhase, whose constraint (always true) kills the process evaluating it once, in a Ray worker, at one
    kind of state (TwoPhase's actions are formulas: the model code a worker runs is its predicates)."""

    @constraint
    def KillOnce(self, state):
        driver = int((HERE / "driver.pid").read_text())
        if os.getpid() != driver and len(state.msgs) == 2 and not (HERE / "killed").exists():
            (HERE / "killed").write_text(str(os.getpid()))
            os.kill(os.getpid(), 9)
        return True
'''


def test_a_killed_actor_never_changes_the_result(cluster, tmp_path):
    (tmp_path / "killer.py").write_text(KILLER)
    (tmp_path / "driver.pid").write_text(str(os.getpid()))
    spec = tmp_path / "killer.toml"
    spec.write_text('format = 1\nprotocol = "killer:Killer"\ndescription = "TwoPhase, killing a worker once"\n'
                    'invariants = ["TCConsistent"]\nexpected = "holds"\n[params]\nrms = 5\n')
    one = check(ROOT / "specs" / "two_phase_commit_tla.toml", params={"rms": 5}, out=None,
                invariants=["TCConsistent"])
    on_ray = check(spec, out=None, ray=cluster.address, ray_workers=2, parallel_min=1)
    assert (tmp_path / "killed").exists(), "no actor was killed: the test tests nothing"
    assert key(on_ray)[:6] == key(one)[:6]
