"""tests/raycluster.py: a real two-host Ray cluster on this machine, reachable only on loopback, whose
every process is gone after it stops. Skipped without Ray (pip install 'faultcheck[ray]'). Slow: the two
`ray start`s take 12-18 s here (2 cores, loaded), the whole test about 20 s."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from raycluster import LocalCluster, ray_available

MISSING = ray_available()
pytestmark = [pytest.mark.skipif(MISSING is not None, reason=MISSING or ""), pytest.mark.slow]

# a driver in its own process: one tiny actor on each host, placed by the hosts' custom resources
DRIVER = """
import json, sys
import ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)

@ray.remote(num_cpus=0)
class Where:
    def node(self):
        return ray.get_runtime_context().get_node_id()

actors = {h: Where.options(resources={h: 0.01}).remote() for h in ("fc_host0", "fc_host1")}
print(json.dumps({h: ray.get(a.node.remote(), timeout=60) for h, a in actors.items()}))
ray.shutdown()
"""


def test_two_hosts_an_actor_on_each_loopback_only_and_nothing_left_after():
    with LocalCluster() as cluster:
        assert cluster.address.startswith("127.0.0.1:")
        assert sorted(cluster.node_ids) == ["fc_host0", "fc_host1"]
        assert cluster.node_ids["fc_host0"] != cluster.node_ids["fc_host1"]
        done = subprocess.run([sys.executable, "-c", DRIVER, cluster.address], env=cluster.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        placed = json.loads(done.stdout.strip().splitlines()[-1])
        # each actor ran on the host whose resource it asked for: two different nodes
        assert placed == cluster.node_ids
        sockets = cluster.listening()
        assert any(port == int(cluster.address.rpartition(":")[2]) for _, port, _ in sockets), sockets
        outside = [s for s in sockets if not ipaddress.ip_address(s[0].removeprefix("::ffff:")).is_loopback]
        assert outside == [], f"listening outside loopback: {outside}"
        pids = cluster.processes()
        assert pids
    assert cluster.processes() == []
    assert not any(_alive(pid) for pid in pids)


def test_a_start_that_runs_out_of_time_fails_naming_the_step_and_leaves_nothing():
    cluster = LocalCluster(timeout=1)
    with pytest.raises(RuntimeError, match=r"`ray start` \(head\) did not finish within 1 s"):
        cluster.__enter__()
    assert cluster.processes() == []
    assert not Path(cluster.temp_dir).exists()


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in "ZX"
