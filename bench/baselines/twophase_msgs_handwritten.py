"""Hand-written plain-Python BFS of the message-passing 2PC (protocols/two_phase_commit.py), flat.

    python3 bench/baselines/twophase_msgs_handwritten.py N

The same transition system as `specs/two_phase_commit_ok.toml` with `rms=N`, written the way
`bench/baselines/twophase_handwritten.py` (the reference) writes TwoPhase.tla: one TM, N RMs, an unordered
network. Every message is sent at most once (the TM broadcasts Prepare once and decides once; an
RM votes once), so the multiset network is a bitmask per message type and direction; the TM's
timeout is armed exactly while it is undecided, so it needs no slot of its own. Each step consumes
one in-flight message (or fires the timer), as faultcheck's deliveries do, so distinct and
generated counts equal faultcheck's (14,896 / 70,492 at N=4). Prints the reference's line format.
"""
import sys
import time
from collections import deque

N = int(sys.argv[1])
ALL = (1 << N) - 1
W, P, C, A = 0, 1, 2, 3  # RM states
U, TC, TA = 0, 1, 2  # TM decision


# state: (tm decision, tm prepared bitmask, rm tuple,
#         in flight: Prepare tm->rm, Prepared rm->tm, Abort rm->tm, Commit tm->rm, Abort tm->rm)
def succ(s):
    dec, tp, rm, prep, yes, no, com, abt = s
    out = []
    for r in range(N):
        b = 1 << r
        if prep & b:  # deliver Prepare to rm r
            if rm[r] == W:
                v = list(rm)
                v[r] = P
                out.append((dec, tp, tuple(v), prep & ~b, yes | b, no, com, abt))
                v = list(rm)
                v[r] = A
                out.append((dec, tp, tuple(v), prep & ~b, yes, no | b, com, abt))
            else:
                out.append((dec, tp, rm, prep & ~b, yes, no, com, abt))
        if yes & b:  # deliver Prepared from rm r
            if dec == U:
                t = tp | b
                if t == ALL:
                    out.append((TC, t, rm, prep, yes & ~b, no, ALL, abt))
                else:
                    out.append((dec, t, rm, prep, yes & ~b, no, com, abt))
            else:
                out.append((dec, tp, rm, prep, yes & ~b, no, com, abt))
        if no & b:  # deliver Abort (a no vote) from rm r
            if dec == U:
                out.append((TA, tp, rm, prep, yes, no & ~b, com, ALL))
            else:
                out.append((dec, tp, rm, prep, yes, no & ~b, com, abt))
        if com & b:  # deliver Commit to rm r
            v = list(rm)
            v[r] = C
            out.append((dec, tp, tuple(v), prep, yes, no, com & ~b, abt))
        if abt & b:  # deliver Abort (the decision) to rm r
            v = list(rm)
            v[r] = A
            out.append((dec, tp, tuple(v), prep, yes, no, com, abt & ~b))
    if dec == U:  # the TM's timeout fires
        out.append((TA, tp, rm, prep, yes, no, com, ALL))
    return out


def inv(s):
    rm = s[2]
    return not (C in rm and A in rm)


init = (U, 0, tuple([W] * N), ALL, 0, 0, 0, 0)  # the TM has broadcast Prepare and armed its timeout
t = time.time()
seen = {init: None}
q = deque([init])
gen = 1
while q:
    s = q.popleft()
    if not inv(s):
        print("violation")
        break
    for n in succ(s):
        gen += 1
        if n not in seen:
            seen[n] = s
            q.append(n)
dt = time.time() - t
print(f"N={N} distinct={len(seen)} generated={gen} time={dt:.4f}s {len(seen)/dt:.0f} distinct/s {gen/dt:.0f} gen/s")
