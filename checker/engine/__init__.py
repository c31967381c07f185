"""The search: one breadth-first loop, its options, monitor and results.

Imports `checker.semantics` and `checker.logic`; never the trace, spec or CLI layers.
"""

from .fewest import fewest_faults
from .monitor import Monitor, ProgressMonitor
from .result import SearchOptions, SearchResult, Stats, Verdict
from .search import search

__all__ = ["fewest_faults", "Monitor", "ProgressMonitor", "SearchOptions", "SearchResult", "Stats", "Verdict", "search"]
