"""A real two-host Ray cluster on this one machine, for the `--ray` tests and the benchmarks.

    with LocalCluster() as cluster:          # about 15 s: two `ray start`s and a check that both are up
        subprocess.run([...], env=cluster.env)   # a driver: ray.init(address=cluster.address)

The head runs the GCS and the first raylet (custom resource `fc_host0`), a second raylet joins it as a
second host (`fc_host1`); `{"fc_host1": 0.01}` in an actor's resources places it there. Each node has
`num_cpus` CPUs (1 by default). The cluster uses token authentication with a token of its own, which
`cluster.env` carries (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN).

Loopback only. Ray 2.x's servers (GCS, raylets, core workers) bind every interface unless the node's
address is exactly 127.0.0.1, and on Linux `ray start` and `ray.init` replace 127.0.0.1, wherever it is
given, by the machine's outbound address. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 stops that replacement, but
then `ray start --address` refuses to add a second node. So the second node's `ray start` runs with the
flag on and Ray's replacement turned off (LAUNCH below); every Ray process it and the head start gets the
flag off. A driver must run with `cluster.env` too (or set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before it
imports ray): without it `ray.init(address="127.0.0.1:PORT")` dials the outbound address and finds
nothing. A driver inside the calling process needs `os.environ.update(cluster.ray_env)` before its
first `import ray` (Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, on import). `listening()` lists
what the cluster's processes listen on; the test checks it is all loopback.

Stopping touches only this cluster. `ray stop` kills every Ray process of the user (another test's, a
developer's), so it is never called: each `ray start` runs in a new session; Ray's daemons and workers
stay in it (workers get their own process group, not their own session), and all of them inherit the
marker variable FAULTCHECK_RAYCLUSTER=<this cluster's temp dir> (so does a driver run with `cluster.env`).
On exit every live process in those sessions or carrying the marker gets SIGKILL, and exit fails if one
is still alive 10 s later.

Imports only the standard library (ray runs in subprocesses), so importing this module is cheap even
without Ray.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKIP_REASON = "pip install 'faultcheck[ray]'"
MARKER = "FAULTCHECK_RAYCLUSTER"

# what every Ray process of the cluster, and a driver connecting to it, runs with
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report (--disable-usage-stats says it again)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep 127.0.0.1 as given (see the docstring)
    "RAY_DEDUP_LOGS": "0",  # no "repeated Nx across cluster" lines in a driver's output
}

# `ray start` with Ray's 127.0.0.1 -> outbound-address replacement turned off. The flag is on while Ray is
# imported (so `ray start --address` accepts a second node) and off for every process it starts.
LAUNCH = """
import os, sys
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"
import ray._private.services as services
if not hasattr(services, "resolve_ip_for_localhost"):
    sys.exit("tests/raycluster.py: this Ray has no services.resolve_ip_for_localhost to turn off")
services.resolve_ip_for_localhost = lambda host: host
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
from ray.scripts.scripts import main
sys.argv[0] = "ray"
main()
"""

# a short-lived driver: waits until `want` nodes are alive, prints {custom resource: node id}
WAIT = """
import json, sys, time
import ray
address, want, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
ray.init(address=address, log_to_driver=False, configure_logging=False)
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= want or time.monotonic() > deadline:
        break
    time.sleep(0.2)
print(json.dumps({r: n["NodeID"] for n in alive for r in n["Resources"] if r.startswith("fc_host")}))
ray.shutdown()
"""


def ray_available() -> str | None:
    """Why a live Ray cluster cannot run here (a skip reason), or None when it can."""
    if importlib.util.find_spec("ray") is None:
        return SKIP_REASON
    if not sys.platform.startswith("linux"):
        return f"a local multi-node Ray cluster needs Linux (this is {sys.platform})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[3])


def _has_marker(pid: int, value: str) -> bool:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER}={value}".encode() in env.split(b"\0")


class LocalCluster:
    """Two Ray nodes on 127.0.0.1, started on entering and stopped, every process of them, on exit."""

    def __init__(self, *, num_cpus: int = 1, timeout: float = 90.0) -> None:
        self.num_cpus = num_cpus
        self.timeout = timeout
        self.address = ""  # "127.0.0.1:PORT", set on entering
        self.node_ids: dict[str, str] = {}  # "fc_host0" / "fc_host1" -> Ray node id (hex)
        self.temp_dir = ""
        self.sessions: list[int] = []  # the session ids of the two `ray start`s
        self.env: dict[str, str] = {}  # the environment for a driver of this cluster (a subprocess)
        self.ray_env: dict[str, str] = {}  # just its RAY_* settings, for os.environ before `import ray`

    # -- starting ----------------------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        # Ray's unix sockets live under the temp dir and a socket path has at most 107 bytes: /tmp, not a
        # pytest tmp_path
        self.temp_dir = tempfile.mkdtemp(prefix="fcray", dir="/tmp" if os.path.isdir("/tmp") else None)
        # token authentication with this cluster's own token, given in the environment: ~/.ray/auth_token
        # (which Ray >= 2.5x writes on a local ray.init() and then turns token mode on for `ray start
        # --head` but not for a joining node) is neither read nor written
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, **RAY_ENV, **token, MARKER: self.temp_dir}
        self.env.pop("RAY_AUTH_TOKEN_PATH", None)
        self.ray_env = {**RAY_ENV, **token}
        self.address = f"127.0.0.1:{free_port()}"
        deadline = time.monotonic() + self.timeout
        try:
            port = self.address.rpartition(":")[2]
            self._ray_start("head", deadline, "--head", "--port", port, "--include-dashboard=false",
                            "--dashboard-host", "127.0.0.1", "--resources", '{"fc_host0": 1}')
            self._ray_start("host1", deadline, "--address", self.address, "--resources", '{"fc_host1": 1}')
            self.node_ids = self._wait_for_nodes(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _ray_start(self, name: str, deadline: float, *args: str) -> None:
        temp = os.path.join(self.temp_dir, name)  # each node its own temp dir (sockets, logs)
        os.mkdir(temp)
        log = os.path.join(self.temp_dir, f"{name}.log")
        cmd = [sys.executable, "-c", LAUNCH, "start", *args, "--node-ip-address", "127.0.0.1",
               "--num-cpus", str(self.num_cpus), "--temp-dir", temp, "--disable-usage-stats"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.sessions.append(proc.pid)  # its daemons stay in this session after it exits
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"`ray start` ({name}) did not finish within {self.timeout:.0f} s:\n"
                               + self._tail(log)) from None
        if rc != 0:
            raise RuntimeError(f"`ray start` ({name}) failed with exit status {rc}:\n" + self._tail(log))

    def _wait_for_nodes(self, deadline: float) -> dict[str, str]:
        left = max(1.0, deadline - time.monotonic())
        try:
            done = subprocess.run([sys.executable, "-c", WAIT, self.address, "2", str(left)], env=self.env,
                                  capture_output=True, text=True, timeout=left + 30)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the Ray cluster at {self.address} did not answer within {left:.0f} s") from None
        try:
            ids = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            ids = None
        if done.returncode != 0 or not isinstance(ids, dict) or sorted(ids) != ["fc_host0", "fc_host1"]:
            raise RuntimeError(f"the Ray cluster at {self.address} did not have both nodes alive within "
                               f"{self.timeout:.0f} s (found {ids}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return ids

    @staticmethod
    def _tail(log: str, n: int = 30) -> str:
        try:
            return "\n".join(Path(log).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return f"(no log at {log})"

    # -- inspecting ------------------------------------------------------------------------------------------

    def processes(self) -> list[int]:
        """Pids of this cluster's live processes (zombies excluded): in its sessions or carrying its marker."""
        ours = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is None or stat[0] in "ZX" or pid == os.getpid():
                continue
            if stat[1] in self.sessions or (self.temp_dir and _has_marker(pid, self.temp_dir)):
                ours.append(pid)
        return ours

    def listening(self) -> list[tuple[str, int, int]]:
        """(address, port, pid) of every TCP socket this cluster's processes listen on (IPv4 and IPv6)."""
        inodes: dict[str, int] = {}
        for pid in self.processes():
            try:
                for fd in os.scandir(f"/proc/{pid}/fd"):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
            except OSError:
                continue
        found = []
        for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                    continue
                hexaddr, hexport = f[1].split(":")
                raw = bytes.fromhex(hexaddr)
                # /proc/net/tcp* stores the address as 32-bit words in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if width == 4 else socket.AF_INET6
                found.append((socket.inet_ntop(family, raw), int(hexport, 16), inodes[f[9]]))
        return sorted(found)

    # -- stopping --------------------------------------------------------------------------------------------

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGKILL every process of the cluster; fail if one is still alive 10 s later."""
        # SIGKILL at once: on SIGTERM the GCS, the raylets and the runtime-env agents of Ray 2.60 were still
        # alive 8 s later; a test cluster has nothing to save
        end = time.monotonic() + 10.0
        while (pids := self.processes()) and time.monotonic() < end:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.1)
        left = self.processes()
        if left:
            raise RuntimeError(f"Ray processes of the cluster at {self.address} still alive after SIGKILL: {left}")
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
