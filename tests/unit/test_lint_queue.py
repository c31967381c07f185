"""Z3 reads FIFO channels (a `Queue` inside the network's `Map`): the canonical states it admits are
exactly the encodings of queues, so `lint` and `induct` run on specs with ``ordering = "fifo"``.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from itertools import product
from pathlib import Path

from checker.cli import main
from checker.logic import smt
from checker.logic.formula import BOOL, const
from checker.model import Bool, Enum, Map, StateSchema
from checker.model.schema import Queue

CHANNELS = ("c1", "c2")
SCHEMA = StateSchema({"b": Bool(), "ch": Map(Enum(*CHANNELS), Queue(Enum("a", "b"), max_len=2))})


def test_z3_admits_exactly_the_encodings_of_queues():
    queues = [q for n in range(3) for q in product("ab", repeat=n)]  # 1 + 2 + 4 of at most 2 elements
    expect = {SCHEMA.encode({"b": b, "ch": dict(zip(CHANNELS, qs))}) for b in (False, True)
              for qs in product(queues, repeat=len(CHANNELS))}
    assert len(expect) == 2 * 7 * 7
    got = list(smt.models(SCHEMA, const(True, BOOL)))
    assert len(got) == len(set(got))
    assert set(got) == expect


def test_lint_on_a_fifo_spec(tmp_path):
    spec = tmp_path / "fifo.toml"
    spec.write_text('format = 1\nprotocol = "protocols.two_phase_commit:TwoPhaseCommit"\n'
                    'invariants = ["Consistent"]\nexpected = "holds"\n[params]\nrms = 2\n'
                    '[network]\nordering = "fifo"\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["lint", str(spec)])
    assert (rc, err.getvalue()) == (0, "")
    # Consistent is a formula, true initially, not implied by the types (two RMs may disagree), alone
    assert out.getvalue() == f"ok   {Path(spec)}: 0 findings on Consistent\n"
