"""One faultcheck search in a fresh process, for bench/run.py: prints one JSON line.

    python3 bench/baselines/faultcheck_child.py SPEC PARAMS_JSON OPTIONS_JSON

Loads SPEC with PARAMS, builds its model once (imports and set-up are not the search's memory),
reads the resident set size, runs `checker.check(spec, out=None, lint=False, **OPTIONS)`, then reads
the process's peak resident set size (VmHWM). bytes/state = (peak - before) / distinct states: all
the search added at its peak (visited store, frontier, memo tables), per state.
"""
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for protocols/

import checker  # noqa: E402
from checker.spec import load_spec  # noqa: E402


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_bytes() -> int:
    kb = _status_kb("VmHWM")  # Linux; else getrusage's maxrss (KiB on Linux, bytes on macOS)
    if kb is not None:
        return kb * 1024
    m = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return m if sys.platform == "darwin" else m * 1024


def main() -> None:
    path, params, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    spec = load_spec(path).with_params(params)
    spec.instantiate()  # imports the protocol and builds one model: not the search's cost
    before = rss_bytes()
    t = time.perf_counter()
    r = checker.check(spec, out=None, lint=False, **options)
    wall = time.perf_counter() - t
    peak = peak_bytes()
    st = r.stats
    print(json.dumps({
        "verdict": str(r.verdict), "ok": r.ok, "reason": r.reason,
        "distinct": st.distinct, "generated": st.generated, "depth": st.depth,
        "seconds": st.seconds, "call_seconds": wall,
        "rss_before": before, "peak": peak,
        "bytes_per_state": (peak - before) / st.distinct if st.distinct else None,
        "engine_bytes_per_state": st.bytes_per_state,
        "symmetry": r.symmetry, "workers": r.workers,
    }))


if __name__ == "__main__":
    main()
