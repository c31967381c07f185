"""`faultcheck history` (checker/cli/history.py) end to end through `faultcheck`'s main parser: the formats,
nemesis entries counted, Jepsen's independent keys checked key by key, --nil-read, --max-seconds (exit 3),
the transactional models (Elle) with --consistency and --dot, exit codes and one-line errors. Every
history here is written by hand or generated with its verdict known by construction."""

from __future__ import annotations

import json
import random

import pytest

from checker.cli import main
from checker.logic.consistency import check_linearizable


def run(capsys, *argv):
    code = main(["history", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, path) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"faultcheck: {path}: ")
    return lines[0]


def edn(p, t, f, v, **more):
    """One Jepsen EDN line."""
    def show(x):
        if x is None:
            return "nil"
        if isinstance(x, list):
            return "[" + " ".join(show(y) for y in x) + "]"
        return str(x)
    extra = "".join(f", :{k} {show(x)}" for k, x in more.items())
    proc = f":{p}" if isinstance(p, str) else p
    return f"{{:type :{t}, :f :{f}, :value {show(v)}, :process {proc}{extra}}}"


# write 1 completes before the read starts, and nothing else writes: the read must return 1
STALE = [("invoke", "write", 1), ("ok", "write", 1), ("invoke", "read", None), ("ok", "read", 0)]


def register_lines(reads_value):
    return [edn(0, "invoke", "write", 1), edn(0, "ok", "write", 1),
            edn(1, "invoke", "read", None), edn(1, "ok", "read", reads_value)]


@pytest.mark.parametrize("layout", ["edn-lines", "edn-vector", "json", "jsonl"])
def test_formats_give_the_same_verdicts(tmp_path, capsys, layout):
    for value, code in ((1, 0), (2, 1)):  # 1: the value written (linearizable); 2: never written (not)
        lines = register_lines(value)
        entries = [{"type": t, "f": f, "value": v, "process": p}
                   for p, t, f, v in ((0, "invoke", "write", 1), (0, "ok", "write", 1),
                                      (1, "invoke", "read", None), (1, "ok", "read", value))]
        text = {"edn-lines": "\n".join(lines), "edn-vector": "[" + "\n ".join(lines) + "]",
                "json": json.dumps(entries), "jsonl": "\n".join(map(json.dumps, entries))}[layout]
        p = tmp_path / f"h{value}.txt"
        p.write_text(text)
        got, out, err = run(capsys, p)
        assert got == code and err == ""
        assert out.startswith(f"ok   {p}: linearizable (2 operations, " if code == 0 else
                              f"FAIL {p}: not linearizable: read by process 1 returned 2 (entries 2-3)")


def test_nemesis_entries_are_ignored_and_counted(tmp_path, capsys):
    nem = [edn("nemesis", "info", "start", None, time=5), edn("nemesis", "info", "start", ["n1", "n2"]),
           edn("nemesis", "info", "stop", None)]
    lines = register_lines(2)
    p = tmp_path / "h.edn"
    p.write_text("\n".join([nem[0], lines[0], nem[1], lines[1], lines[2], nem[2], lines[3]]))
    code, out, _ = run(capsys, p)
    first, *rest = out.splitlines()
    assert code == 1 and first.endswith("(3 nemesis entries ignored)")
    assert "entries 4-6" in first  # the failing read, numbered as in the file (nemesis lines included)
    assert [r.split("]")[0].strip(" [") for r in rest] == ["4", "6"]
    p.write_text("\n".join([nem[0], *register_lines(1)]))
    code, out, _ = run(capsys, p)
    assert code == 0 and out.endswith("; 1 nemesis entry ignored)\n")
    code, out, _ = run(capsys, p, "--json")
    assert json.loads(out)["ignored"] == {"nemesis": 1} and json.loads(out)["format"] == "edn"


def test_a_history_of_only_nemesis_entries_is_empty_and_linearizable(tmp_path, capsys):
    p = tmp_path / "h.edn"
    p.write_text(edn("nemesis", "info", "start", None))
    code, out, _ = run(capsys, p)
    assert code == 0 and out.startswith(f"ok   {p}: linearizable (0 operations, ")


def test_independent_keys_are_checked_one_by_one(tmp_path, capsys):
    # key 1 and key 3: linearizable (cas from the written value); key 2: a read of a value never written
    lines = [edn(0, "invoke", "write", [1, 5]), edn(1, "invoke", "write", [2, 7]), edn(0, "ok", "write", [1, 5]),
             edn(1, "ok", "write", [2, 7]), edn(2, "invoke", "cas", [1, [5, 6]]), edn(2, "ok", "cas", [1, [5, 6]]),
             edn(3, "invoke", "read", [2, None]), edn(3, "ok", "read", [2, 8]),
             edn(4, "invoke", "write", [3, 1]), edn(4, "info", "write", [3, 1]),
             edn(5, "invoke", "read", [3, None]), edn(5, "ok", "read", [3, 1])]
    p = tmp_path / "indep.edn"
    p.write_text("\n".join(lines))
    code, out, _ = run(capsys, p)
    first, *rest = out.splitlines()
    assert code == 1
    assert first.startswith(f"FAIL {p}: not linearizable: key 2: read by process 3 returned 8 (entries 6-7)")
    assert first.endswith("(1 of 3 keys fail: 2)")
    assert [json.loads(r.split("] ", 1)[1])["value"] for r in rest] == [[2, None], [2, 8]]
    code, out, _ = run(capsys, p, "--json")
    d = json.loads(out)
    assert d["failing_keys"] == [2] and [k["key"] for k in d["keys"]] == [1, 2, 3]
    assert [k["ok"] for k in d["keys"]] == [True, False, True]
    lines[7] = edn(3, "ok", "read", [2, 7])
    p.write_text("\n".join(lines))
    code, out, _ = run(capsys, p)
    assert code == 0 and out.startswith(f"ok   {p}: linearizable (6 operations on 3 keys, ")


def test_nil_read(tmp_path, capsys):
    # write 1 completes before the read starts and nothing writes nil: nil is impossible as a value
    p = tmp_path / "h.edn"
    p.write_text("\n".join(register_lines(None)))
    code, out, _ = run(capsys, p)
    assert code == 0  # Knossos's reading, the default: the value read is unknown
    assert run(capsys, p, "--nil-read", "unknown")[0] == 0
    code, out, _ = run(capsys, p, "--nil-read", "value")
    assert code == 1 and "returned null" in out
    # a read of nil before anything is written is fine either way
    q = tmp_path / "q.edn"
    q.write_text("\n".join([edn(1, "invoke", "read", None), edn(1, "ok", "read", None)]))
    assert run(capsys, q, "--nil-read", "value")[0] == 0


def test_help_says_which_nil_read_is_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["history", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "unknown (default; Knossos's reading" in text
    for model in ("list-append", "rw-register", "register", "kv"):
        assert model in text


def hard_history(ops, infos, seed=0, procs=8):
    """A cas-register history linearizable by construction: operation k starts at s_k (strictly increasing)
    and takes effect at s_k + 0.01, before s_{k+1}, so the order of the operations is their order of effect;
    each completion reports what the register did. `infos` writes get an unknown outcome (they took effect
    or not: a coin flip) and, as Jepsen does, their process is replaced by a new one."""
    rnd = random.Random(seed)
    info_at = {int((i + 0.5) * ops / infos) for i in range(infos)}
    free = [0.0] * procs  # when each slot's process may invoke again
    ids = list(range(procs))
    t, reg, events = 0.0, None, []
    for k in range(ops):
        slot = min(range(procs), key=free.__getitem__)
        t = max(t + rnd.uniform(0.05, 0.2), free[slot])
        p, end = ids[slot], t + rnd.uniform(0.02, 3.0)
        free[slot] = end + 1e-3
        f = "write" if k in info_at else rnd.choice(["read", "write", "cas"])
        value = rnd.randrange(5)
        if f == "read":
            inv, out, typ = None, reg, "ok"
        elif f == "write":
            inv, out, typ = value, value, "ok"
        else:
            inv = [rnd.choice([reg, rnd.randrange(5)]), value]
            out, typ = inv, "ok" if inv[0] == reg else "fail"
        if k in info_at:
            typ = "info"
            if rnd.random() < 0.5:
                reg = value
            ids[slot] = p + procs
        elif typ == "ok" and f != "read":
            reg = value
        events.append((t, k, 0, {"process": p, "type": "invoke", "f": f, "value": inv}))
        events.append((end, k, 1, {"process": p, "type": typ, "f": f, "value": out}))
    events.sort(key=lambda e: e[:3])
    return [e for *_, e in events]


def test_hard_history_generator_is_linearizable_when_small():
    for seed in range(5):
        h = hard_history(80, 3, seed=seed)
        assert check_linearizable(h).ok
        bad = [dict(e) for e in h]
        last_read = max(i for i, e in enumerate(bad) if e["f"] == "read" and e["type"] == "ok")
        bad[last_read]["value"] = 99  # nothing writes 99
        assert not check_linearizable(bad).ok


def test_max_seconds(tmp_path, capsys):
    p = tmp_path / "hard.json"
    p.write_text(json.dumps(hard_history(20_000, 30)))
    code, out, _ = run(capsys, p, "--max-seconds", "0.001")
    assert code == 3 and out.startswith(f"??   {p}: undetermined")
    code, out, _ = run(capsys, p, "--max-seconds", "0.001", "--json")
    assert code == 3 and json.loads(out)["undetermined"] is True and json.loads(out)["ok"] is False
    q = tmp_path / "easy.edn"
    q.write_text("\n".join(register_lines(1)))
    assert run(capsys, q, "--max-seconds", "30")[0] == 0


WRITE_SKEW = [  # Adya's G2-item: each transaction reads the key the other appends to, and sees it empty
    "{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0}",
    "{:type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]], :process 1}",
    "{:type :ok, :f :txn, :value [[:append :x 1] [:r :y []]], :process 0}",
    "{:type :ok, :f :txn, :value [[:append :y 1] [:r :x []]], :process 1}",
    "{:type :info, :f :kill, :value nil, :process :nemesis}",
]


def test_transactional_models(tmp_path, capsys):
    pytest.importorskip("checker.logic.elle")
    p = tmp_path / "skew.edn"
    p.write_text("\n".join(WRITE_SKEW))
    dot = tmp_path / "g.dot"
    code, out, _ = run(capsys, p, "--model", "list-append", "--dot", dot)
    assert code == 1 and out.startswith(f"FAIL {p}: not serializable: G2-item")
    assert "(1 nemesis entry ignored)" in out.splitlines()[0]
    text = dot.read_text()
    assert text.startswith("digraph") and "T0" in text and "T1" in text and "rw" in text
    code, out, _ = run(capsys, p, "--model", "list-append", "--consistency", "snapshot-isolation")
    assert code == 0 and out.startswith(f"ok   {p}: snapshot-isolation")  # SI allows write skew
    code, out, _ = run(capsys, p, "--model", "list-append", "--consistency", "read-committed", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    # serial: T1 sees T0's append
    serial = [WRITE_SKEW[0], WRITE_SKEW[2], WRITE_SKEW[1], WRITE_SKEW[3].replace("[:r :x []]", "[:r :x [1]]")]
    p.write_text("\n".join(serial))
    assert run(capsys, p, "--model", "list-append")[0] == 0


@pytest.mark.parametrize("extra,problem", [
    (["--model", "list-append", "--consistency", "linearizable"], "--consistency linearizable is for the models"),
    (["--consistency", "serializable"], "--consistency serializable is an isolation level: it needs --model"),
    (["--dot", "x.dot"], "--dot draws Elle's dependency graph"),
    (["--model", "rw-register", "--nil-read", "value"], "--nil-read is for the models"),
    (["--model", "rw-register", "--initial", "1"], "--initial is for the models"),
    (["--max-seconds", "0"], "--max-seconds 0: must be a positive number"),
    (["--max-seconds", "nan"], "--max-seconds nan: must be a positive number"),
    (["--initial", "{"], "--initial {: not a JSON literal"),
])
def test_bad_options_are_one_line(tmp_path, capsys, extra, problem):
    p = tmp_path / "h.edn"
    p.write_text("\n".join(register_lines(1)))
    code, out, err = run(capsys, p, *extra)
    assert code == 2 and out == "" and problem in one_error_line(err, p)


@pytest.mark.parametrize("text,problem", [
    ("{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value 1 :process}",
     "not valid EDN: line 2, column 40: a map needs a value for every key"),
    ("{:type :info, :f :start, :process :nemesis}\n{:type :invoke, :f :read, :value nil, :process 0}\n"
     "{:type :ok, :f :reed, :value 1, :process 0}", 'entry 2 (line 3): unknown f "reed"'),
    ("[{:type :invoke, :f :read, :value nil, :process 0}\n {:type :info, :process :nemesis}\n"
     " {:type :ok, :f :read, :value 1, :process 7}]", "entry 2 (line 3): ok read for process 7"),
    ('{"type": "invoke", "f": "read", "process": 0}\n{"type": "ok", "f": "read", "process": 0, "value": }',
     "line 2: not a valid JSON line"),
    ("{:type :invoke, :f :write, :value [2 5], :process 1}\n{:type :ok, :f :write, :value [2 5], :process 1}\n"
     "{:type :invoke, :f :write, :value [1 2], :process 0}\n{:type :invoke, :f :write, :value [1 3], :process 0}",
     "entry 3 (line 4): key 1: process 0 invokes write while its write invoked at entry 2 is still pending"),
    ("{:type :info, :process :nemesis}\n{:type :invoke, :f :read, :value nil, :process 0}\n"
     "{:type :invoke, :f :read, :value nil, :process 0}",
     "entry 2 (line 3): process 0 invokes read while its read invoked at entry 1 is still pending"),
    ("", "empty file"),
])
def test_bad_histories_are_one_line(tmp_path, capsys, text, problem):
    p = tmp_path / "h.edn"
    p.write_text(text)
    code, out, err = run(capsys, p)
    assert code == 2 and out == "" and problem in one_error_line(err, p)
    code, out, err = run(capsys, p, "--json")
    assert code == 2 and json.loads(out)["ok"] is False and json.loads(out)["error"] in err


def test_unwritable_dot_file(tmp_path, capsys):
    pytest.importorskip("checker.logic.elle")
    p = tmp_path / "skew.edn"
    p.write_text("\n".join(WRITE_SKEW))
    code, _, err = run(capsys, p, "--model", "list-append", "--dot", tmp_path / "no" / "such" / "dir.dot")
    assert code == 2 and "--dot" in one_error_line(err, p) and "cannot write" in err


def test_the_elle_names_in_help_are_elles_own():
    elle = pytest.importorskip("checker.logic.elle")
    from checker.cli import history
    assert history.ELLE_MODELS == elle.ELLE_MODELS and history.ELLE_CONSISTENCY == elle.ELLE_CONSISTENCY
