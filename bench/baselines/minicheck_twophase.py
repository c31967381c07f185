"""TwoPhase.tla in minicheck (PyPI `minicheck`), timed: the model the hand-written reference checks.

    python3 bench/baselines/minicheck_twophase.py N

minicheck's `Protocol` is a tuple of named fields, one initial state, a function returning labelled
successors and invariants over a {field: value} dict; `check_safety` explores it breadth first.
The successor function is `bench/baselines/twophase_handwritten.py`'s, with a label per step
(TLC's action names), so distinct counts equal TLC's and faultcheck's. minicheck counts no
generated states (the line says generated=0). Prints the reference's line format (distinct, seconds
of the search alone).
"""
import sys
import time

from minicheck import Protocol, check_safety

N = int(sys.argv[1])
W, P, C, A = 0, 1, 2, 3  # rm states
TI, TC, TA = 0, 1, 2
ALL = (1 << N) - 1


# state: (rm tuple, tm, tmPrepared bitmask, msgs: prepared bitmask, commit, abort)
def transitions(s):
    rm, tm, tp, mp, mc, ma = s
    out = []
    if tm == TI:
        for r in range(N):
            b = 1 << r
            if mp & b and not tp & b:
                out.append(("TMRcvPrepared", (rm, tm, tp | b, mp, mc, ma)))
        if tp == ALL:
            out.append(("TMCommit", (rm, TC, tp, mp, 1, ma)))
        out.append(("TMAbort", (rm, TA, tp, mp, mc, 1)))
    for r in range(N):
        x = rm[r]
        if x == W:
            v = list(rm)
            v[r] = P
            out.append(("RMPrepare", (tuple(v), tm, tp, mp | (1 << r), mc, ma)))
            v = list(rm)
            v[r] = A
            out.append(("RMChooseToAbort", (tuple(v), tm, tp, mp, mc, ma)))
        if mc and x != C:
            v = list(rm)
            v[r] = C
            out.append(("RMRcvCommitMsg", (tuple(v), tm, tp, mp, mc, ma)))
        if ma and x != A:
            v = list(rm)
            v[r] = A
            out.append(("RMRcvAbortMsg", (tuple(v), tm, tp, mp, mc, ma)))
    return out


def tc_consistent(d):
    rm = d["rmState"]
    return not (C in rm and A in rm)


model = Protocol(
    name=f"TwoPhase{N}", candidate=False,
    fields=("rmState", "tmState", "tmPrepared", "msgsPrepared", "msgCommit", "msgAbort"),
    initial=(tuple([W] * N), TI, 0, 0, 0, 0),
    transitions=transitions,
    invariants={"TCConsistent": tc_consistent},
)
t = time.time()
r = check_safety(model, max_states=1 << 40)
dt = time.time() - t
if not r["exhaustive"] or not r["properties"]["TCConsistent"]["holds"]:
    print(f"minicheck: not exhaustive or violated: {r.get('incomplete_reason')}")
    sys.exit(1)
distinct = r["reachable_states"]  # minicheck counts no generated states
print(f"N={N} distinct={distinct} generated=0 time={dt:.4f}s {distinct/dt:.0f} distinct/s")
