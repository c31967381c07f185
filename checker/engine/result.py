"""What a search is given and what it returns: options, verdicts, statistics, results.

Imports nothing of faultcheck beyond the standard library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Verdict(str, enum.Enum):
    """holds: the whole reachable space was explored and nothing failed;
    violated: a property failed; undetermined: a bound or Ctrl-C cut the
    search short (never a pass); error: model code raised or misbehaved (ended, hijacked or hung
    the search, returned what no action or property returns)."""

    HOLDS = "holds"
    VIOLATED = "violated"
    UNDETERMINED = "undetermined"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


STRATEGIES = ("bfs", "dfs", "random", "hypothesis")


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """How to search. Frozen and keyword-only: two searches with different options can run side by side.

    >>> SearchOptions(max_states=10_000, store="fingerprint").store
    'fingerprint'
    """

    max_states: int | None = None  # stop (undetermined) once this many distinct states are found
    max_depth: int | None = None  # do not expand states at this BFS level (initial states are level 1)
    max_seconds: float | None = None  # stop (undetermined) after this much wall time
    check_deadlock: bool = True  # a state with no successor that no @terminal accepts is a violation
    store: str = "exact"  # "exact": a set of states; "fingerprint": 64-bit hashes only; "compact": numpy arrays
    check_types: bool = True  # check every new state's slots against the schema
    workers: int = 1  # processes expanding each large level (fork; Linux and macOS)
    strategy: str = "bfs"  # "bfs" (exhaustive, shortest), "dfs" (depth-bounded), "random" (walks), "hypothesis"
    walks: int = 1000  # random and hypothesis: how many schedules to try
    seed: int = 0  # random and hypothesis: the seed that makes a run reproducible
    checkpoint_dir: str | None = None  # bfs: write checkpoints there
    checkpoint_every: float = 600.0  # seconds between two checkpoints
    resume: str | None = None  # bfs: go on from the checkpoint in this folder
    compact_above: int | None = None  # bytes of resident memory past which the search goes on compactly
    sharded: bool = False  # bfs: large levels on `workers` shards, each owning a part of the visited set
    ray: str | None = None  # bfs: spread large levels over Ray actors on this cluster ("auto" or an address)
    ray_workers: int | None = None  # how many Ray actors (shards); None: `workers`
    ray_ship: bool = False  # Ray: upload the project and faultcheck to the workers (a cluster of other hosts)
    parallel_min: int | None = None  # with workers, shards or Ray: the smallest level not expanded by this process
    # alone (None: engine.search.PARALLEL_MIN, 4096; smaller levels cost more to share than to expand)
    hang_seconds: float = 60.0  # one call of model code running longer than this is an error (see engine.guard)

    def __post_init__(self) -> None:
        for name in ("max_states", "max_depth"):
            v = getattr(self, name)
            if v is not None and (type(v) is not int or v < 1):
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, (int, float)) and not isinstance(self.max_seconds, bool) and self.max_seconds > 0
        ):
            raise ValueError(f"max_seconds must be a positive number, got {self.max_seconds!r}")
        if self.store not in ("exact", "fingerprint", "compact"):
            raise ValueError(f"store must be 'exact', 'fingerprint' or 'compact', got {self.store!r}")
        if self.store == "compact" and (self.workers > 1 or self.checkpoint_dir or self.resume):
            raise ValueError("the compact store runs on one process, without checkpoints")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        for name in ("workers", "walks"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if (self.sharded or self.ray is not None) and (self.strategy != "bfs" or self.store == "compact"):
            raise ValueError("a sharded search (--sharded, --ray) goes with strategy bfs and the exact or fingerprint store")
        if self.ray_workers is not None and (type(self.ray_workers) is not int or self.ray_workers < 1):
            raise ValueError(f"ray_workers must be a positive int, got {self.ray_workers!r}")
        if self.strategy != "bfs" and (self.workers > 1 or self.checkpoint_dir or self.resume):
            raise ValueError("workers, checkpoints and resume go with strategy bfs only")
        if not (isinstance(self.hang_seconds, (int, float)) and not isinstance(self.hang_seconds, bool)
                and self.hang_seconds > 0):
            raise ValueError(f"hang_seconds must be a positive number of seconds, got {self.hang_seconds!r}")
        if not (isinstance(self.checkpoint_every, (int, float)) and self.checkpoint_every > 0):
            raise ValueError(f"checkpoint_every must be a positive number of seconds, got {self.checkpoint_every!r}")


@dataclass(frozen=True)
class Stats:
    """Counts with TLC's meanings.

    distinct: states found; generated: initial states plus every successor
    produced, duplicates and self-loops included; depth: BFS levels, the
    initial states being level 1.
    """

    distinct: int
    generated: int
    depth: int
    seconds: float
    coverage: dict[str, int] = field(default_factory=dict)  # successors produced per action
    collision_probability: float | None = None  # fingerprint store only
    bytes_per_state: float | None = None  # peak resident memory added by the search, per distinct state

    @property
    def states_per_second(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0

    @property
    def never_enabled(self) -> list[str]:
        return [a for a, n in self.coverage.items() if n == 0]


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search.

    `path` holds the raw states from an initial state to the state where the
    property failed (or the error arose); `property` names what failed
    ("deadlock" for a deadlock); `reason` says why a search is undetermined
    or what the error was.
    """

    verdict: Verdict
    stats: Stats
    property: str | None = None
    path: tuple[tuple, ...] | None = None
    reason: str = ""
    error: str | None = None  # traceback text of an exception raised by model code
    loop: int | None = None  # a lasso (liveness): the index in `path` where the cycle starts; path[-1] == path[loop]
    permutations: tuple[dict[str, str], ...] | None = None  # symmetry: per state, the renaming to its representative
    # reachability properties: for each one reached, the shortest path (breadth first) to a state satisfying it
    witnesses: dict[str, tuple[tuple, ...]] | None = None
