"""The shards of a sharded search as Ray actors: `faultcheck check SPEC --ray auto|local|ADDRESS`.

Each actor rebuilds the spec's transition system from a recipe (the spec's path and options: the
protocol's code is imported on the worker, never pickled) and holds one `engine.shard.Shard`. The
coordinator (`engine.distribute`) drives the levels; an actor's batches for the other shards go into
Ray's object store and travel to their owners directly (the coordinator passes only references).
Actors are spread over the cluster's nodes, one CPU each.

`local` starts a private Ray on this machine for this process (127.0.0.1, no dashboard, usage
statistics off), which ends with it; `auto` joins the cluster `ray start` runs here (or RAY_ADDRESS);
anything else is the address of a cluster's head (`HOST:PORT`). The connection is made once per
process and kept: a second search in the same process does not pay `ray.init` again. Ray is an
optional dependency (`pip install 'faultcheck[ray]'`), imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .distribute import Pool, WorkerDied
from .result import SearchOptions

_STARTED_LOCAL = False
last_placement: list[tuple[int, str]] = []  # (pid, node id) of each shard of the last search (for tests)


class RayMissing(RuntimeError):
    """Ray is not installed, or no cluster answers at the address (one line)."""


def connect(address: str, workers: int) -> Any:
    """The `ray` module, connected to `address` (once per process)."""
    global _STARTED_LOCAL
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address == "local" or address.startswith(("127.", "localhost")):
        # keep 127.0.0.1 as given: on Linux Ray 2.x replaces it by the outbound address, and its servers then
        # listen on every interface (read once, when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address == "local":  # a private Ray: its own token, so that nothing is written to ~/.ray
        import secrets

        os.environ.setdefault("RAY_AUTH_MODE", "token")
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    try:
        import ray
    except ImportError:
        raise RayMissing("--ray needs Ray: pip install 'faultcheck[ray]'") from None
    if ray.is_initialized():
        return ray
    quiet: dict[str, Any] = {"log_to_driver": False, "configure_logging": False, "include_dashboard": False}
    try:
        if address == "local":
            ray.init(num_cpus=max(workers, 1), _node_ip_address="127.0.0.1", **quiet)
            _STARTED_LOCAL = True
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RayMissing(f"--ray {address}: cannot connect: {first}") from None
    return ray


_HOSTS: list = []  # actors kept between searches of this process (a joined cluster): no start-up paid twice


def _host_class(ray: Any):
    @ray.remote(num_cpus=1, max_restarts=0)
    class ShardHost:
        """Holds one shard at a time, rebuilt on the worker from a search's recipe."""

        def __init__(self) -> None:
            self.shard = None

        def load(self, recipe: Callable[[], dict], options: SearchOptions, index: int, count: int) -> tuple[int, str]:
            from .shard import Shard

            self.shard = None
            parts = recipe()
            self.shard = Shard(parts["system"], parts["invariants"], parts["constraints"], parts["terminals"],
                               options, parts["tlc"], parts["reachable"], index, count)
            return os.getpid(), ray.get_runtime_context().get_node_id()

        def unload(self) -> None:
            self.shard = None

        def call(self, method: str, args: tuple) -> Any:
            return getattr(self.shard, method)(*args)

        def expand(self, limit: int, more: bool) -> dict:
            out = self.shard.expand(limit, more)
            out["batches"] = [None if b is None else ray.put(b) for b in out["batches"]]
            return out

        def receive(self, refs: list) -> Any:
            wanted = [r for r in refs if r is not None]
            got = iter(ray.get(wanted)) if wanted else iter(())
            return self.shard.receive([None if r is None else next(got) for r in refs])

    return ShardHost


class RayPool(Pool):
    """Shards as Ray actors spread over the cluster (kept for the next search of this process)."""

    def __init__(self, address: str, count: int | None, recipe: Callable[[], dict] | None, options: SearchOptions,
                 tlc: Any):
        if recipe is None:
            raise RayMissing("--ray needs a spec file: the workers load the spec themselves")
        self.ray = ray = connect(address, count or 2)
        if count is None:  # one shard per CPU of the cluster
            count = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        self.count = count
        env: dict[str, Any] = {"env_vars": {"PYTHONPATH": os.pathsep.join(_paths(recipe)),
                                            "RAY_USAGE_STATS_ENABLED": "0"}}
        if options.ray_ship:  # a cluster of other hosts: the code travels with the job
            env = {"working_dir": str(getattr(recipe, "root", Path.cwd())),
                   "py_modules": [str(Path(__file__).resolve().parents[1])],
                   "excludes": [".git", ".faultcheck", "__pycache__", "*.npz"]}
        if len(_HOSTS) != count or _HOSTS and _HOSTS[0][1] != env:
            _drop_hosts(ray)
            Host = _host_class(ray).options(runtime_env=env, scheduling_strategy="SPREAD")
            _HOSTS.extend((Host.remote(), env) for _ in range(count))
        self.actors = [a for a, _ in _HOSTS]
        try:
            self.placed = ray.get([a.load.remote(recipe, options, w, count) for w, a in enumerate(self.actors)])
            last_placement[:] = self.placed
        except ray.exceptions.RayActorError as e:
            _drop_hosts(ray)
            raise WorkerDied(f"a Ray actor died: {_first_line(e)}") from None
        except ray.exceptions.RayTaskError as e:
            raise RayMissing(f"a Ray worker could not load the spec: {_first_line(e)}") from None

    def call(self, method: str, args: Sequence[tuple]) -> list:
        ray = self.ray
        if method == "expand":
            refs = [a.expand.remote(*x) for a, x in zip(self.actors, args)]
        elif method == "receive":
            refs = [a.receive.remote(*x) for a, x in zip(self.actors, args)]
        else:
            refs = [a.call.remote(method, x) for a, x in zip(self.actors, args)]
        try:
            return ray.get(refs)
        except ray.exceptions.RayActorError as e:
            raise WorkerDied(f"a Ray actor died: {_first_line(e)}") from None
        except ray.exceptions.RayTaskError as e:
            raise RuntimeError(f"a shard failed: {_first_line(e)}") from None

    def nodes(self) -> list[str]:
        return [node for _, node in self.placed]

    def pids(self) -> list[int]:
        return [pid for pid, _ in self.placed]

    def close(self, failed: bool = False) -> None:
        ray = self.ray
        if failed:
            _drop_hosts(ray)
        else:
            try:
                ray.get([a.unload.remote() for a in self.actors])
            except Exception:
                _drop_hosts(ray)
        if _STARTED_LOCAL:  # a private Ray ends with the search: nothing outlives it
            shutdown()


def _drop_hosts(ray: Any) -> None:
    for a, _ in _HOSTS:
        try:
            ray.kill(a)
        except Exception:  # noqa: S110 - already gone
            pass
    _HOSTS.clear()


def shutdown() -> None:
    """End the private Ray this process started (`--ray local`); a joined cluster is left running."""
    global _STARTED_LOCAL
    if _STARTED_LOCAL:
        import ray

        _HOSTS.clear()
        ray.shutdown()
        _STARTED_LOCAL = False


def _paths(recipe: Any) -> list[str]:
    here = str(Path(__file__).resolve().parents[2])
    root = getattr(recipe, "root", None)
    return [here] + ([str(root)] if root else [])


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
