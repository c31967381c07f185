# Reference hand-written plain-Python BFS of Lamport's TwoPhase.tla: the baseline that engine speed ratios are measured against.
# The project's reference baseline, kept exactly as written (speed ratios measured against it stay
# comparable), so the linter leaves it alone.  Usage: python3 bench/baselines/twophase_handwritten.py N
# ruff: noqa
import sys, time
from collections import deque
N = int(sys.argv[1])
W,P,C,A = 0,1,2,3   # rm states
TI,TC,TA = 0,1,2
# state: (rm tuple, tm, tmPrepared bitmask, msgs: prepared bitmask, commit, abort)
def succ(s):
    rm, tm, tp, mp, mc, ma = s
    out = []
    if tm == TI:
        # TMRcvPrepared
        for r in range(N):
            b = 1<<r
            if mp & b and not tp & b:
                out.append((rm, tm, tp|b, mp, mc, ma))
        if tp == (1<<N)-1:
            out.append((rm, TC, tp, mp, 1, ma))
        out.append((rm, TA, tp, mp, mc, 1))
    for r in range(N):
        x = rm[r]
        if x == W:
            l = list(rm); l[r] = P
            out.append((tuple(l), tm, tp, mp | (1<<r), mc, ma))
            l = list(rm); l[r] = A
            out.append((tuple(l), tm, tp, mp, mc, ma))
        if mc and x != C:
            l = list(rm); l[r] = C
            out.append((tuple(l), tm, tp, mp, mc, ma))
        if ma and x != A:
            l = list(rm); l[r] = A
            out.append((tuple(l), tm, tp, mp, mc, ma))
    return out
def inv(s):
    rm = s[0]
    return not (C in rm and A in rm)
init = (tuple([W]*N), TI, 0, 0, 0, 0)
t=time.time()
seen = {init: None}
q = deque([init]); gen=1
while q:
    s = q.popleft()
    if not inv(s): print("violation"); break
    for n in succ(s):
        gen += 1
        if n not in seen:
            seen[n] = s
            q.append(n)
dt=time.time()-t
print(f"N={N} distinct={len(seen)} generated={gen} time={dt:.2f}s {len(seen)/dt:.0f} distinct/s {gen/dt:.0f} gen/s")
