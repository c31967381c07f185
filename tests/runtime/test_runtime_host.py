"""checker/runtime/host.py and controller.py on a real 3-node cluster: a handler that raises is
reported and its node keeps running; malformed frames are dropped; every process is stopped."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from conftest import hosts_running

from checker.runtime.cluster import ClusterFile
from checker.runtime.controller import Controller, RunOptions

HERE = Path(__file__).resolve().parent


class Garbling(Controller):
    """Sends every node garbage, a frame for someone else, a cut frame and a huge length, mid-run."""

    async def fault_loop(self, plan, stop):
        await asyncio.sleep(0.3)
        ports = ClusterFile.load(self.cluster_file).ports
        good = self.cluster.codec.encode("peer1", "peer3", type(self.cluster.codec.records[0].unrank(0))(1))
        for port in ports.values():
            for data in (b"\0\0\0\3\x09\x09\x09", good, good[:-1], b"\xff\xff\xff\xff" + b"x" * 10):
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(data)
        await super().fault_loop(plan, stop)


def test_a_raising_handler_is_reported_and_the_cluster_keeps_running(tmp_path):
    out = tmp_path / "run"
    opts = RunOptions(duration=1.5, out=out, timer_default=0.05, settle=0.2)
    c = Garbling("runtime_flaky:Ring", {}, opts, paths=(str(HERE),))
    report = c.run()
    assert report.errors, "peer2's third token raises"
    err = report.errors[0]
    assert err["node"] == "peer2" and err["handler"] == "on_token"
    assert "RuntimeError: the third token" in err["traceback"] and "Token" in err["context"]
    # its changes were discarded, and it went on handling tokens afterwards (so it raised once per token
    # while `seen` stayed 2: every later token raises too, and the others keep counting)
    assert report.final["peer2"]["seen"] == 2
    assert report.final["peer1"]["seen"] > 5  # peer2 and peer3 send to peer1, peer1 to peer2
    assert report.final["peer3"]["seen"] == 1  # nobody sends to peer3 but the test: its one valid frame
    assert report.final["peer2"]["ticks"] > 5  # its timer kept firing
    assert report.dropped_frames >= 3 * 3  # garbage, misrouted and cut frames, on each of the three nodes
    assert not report.down
    assert hosts_running(str(out)) == []
    logs = (out / "logs" / "peer1.log").read_text()
    assert "dropped a malformed frame" in logs and "dropped a frame for peer3" in logs


def test_durable_fields_survive_a_restart_and_volatile_ones_do_not(tmp_path):
    out = tmp_path / "run"
    opts = RunOptions(
        duration=2.0,
        out=out,
        timer_default=0.05,
        settle=0.2,
        faults=("crash",),
        seed=3,
        fault_interval=0.5,
        crashable=("peer1",),
    )
    report = Controller("runtime_flaky:Ring", {}, opts, paths=(str(HERE),)).run()
    restarts = [f for f in report.faults if f["kind"] == "restart"]
    assert restarts and all(f["node"] == "peer1" for f in report.faults)
    # ticks (volatile) restarted from 0 at peer1's last restart; seen (durable) kept counting across restarts
    p1, p3 = report.final["peer1"], report.final["peer3"]
    assert p1["ticks"] < p3["ticks"]
    assert p1["seen"] > p1["ticks"] / 2
    assert hosts_running(str(out)) == []
