"""checker/engine/checkpoint.py: checkpoints are data (a numpy archive read with allow_pickle=False and a
JSON header), never code. A round trip gives back exactly the store, frontier and counts written (built
here by a breadth-first search of our own); a pickle is never unpickled (a marker it would create stays
absent); flipped bytes, truncation, edited headers and forged contents are refused in one line naming
the file, or load exactly what was written."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker.engine.checkpoint as cp
from checker.cli import main
from checker.engine import SearchOptions
from checker.engine.checkpoint import FILE, Checkpointer, CheckpointError, load_checkpoint
from checker.engine.search import fingerprinter
from checker.spec import SpecError, check
from checker.spec.run import prepare

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
HOLDS = SPECS / "two_phase_commit_tla.toml"  # TwoPhase.tla: slots below 2**64
WIDE = SPECS / "two_phase_commit_ok.toml"  # a protocol whose network is a 2**256 bitmask: a wide slot


def partial_store(system, levels: int, fraction: float, fingerprint: bool = False):
    """A breadth-first store as the search keeps it, `levels` levels deep, with `fraction` of the last
    level expanded: (seen, level, next, at, depth, counts, generated0)."""
    fp = fingerprinter(system.schema) if fingerprint else (lambda s: s)
    seen: dict = {}
    level: list = []
    for s in system.initial:
        if fp(s) not in seen:
            seen[fp(s)] = None
            level.append(s)
    counts = [0] * len(system.actions)
    depth = 1

    def expand(states, nxt):
        for s in states:
            for i, a in enumerate(system.actions):
                ts = a.successors(s)
                counts[i] += len(ts)
                for t in ts:
                    if fp(t) not in seen:
                        seen[fp(t)] = fp(s)
                        nxt.append(t)

    for _ in range(levels):
        nxt: list = []
        expand(level, nxt)
        level, depth = nxt, depth + 1
    at = int(len(level) * fraction)
    nxt = []
    expand(level[:at], nxt)
    return seen, level, nxt, at, depth, counts, len(system.initial)


def save(where: Path, system, invs, store, fingerprint=False, **opts) -> Path:
    saver = Checkpointer(SearchOptions(checkpoint_dir=str(where), store="fingerprint" if fingerprint else "exact",
                                       **opts), system, invs)
    return saver.save(*store)


def load(where, system, invs, fingerprint=False, **opts):
    return load_checkpoint(where, system, invs, SearchOptions(store="fingerprint" if fingerprint else "exact", **opts))


def same(loaded: dict, store) -> bool:
    seen, level, nxt, at, depth, counts, g0 = store
    return (list(loaded["seen"].items()) == list(seen.items()) and loaded["level"] == level
            and loaded["next"] == nxt and (loaded["at"], loaded["depth"], loaded["counts"], loaded["generated0"])
            == (at, depth, counts, g0))


@pytest.fixture(scope="module")
def twophase():
    system, invs = prepare(HOLDS, {"rms": 3})
    return system, invs, partial_store(system, 5, 0.5)


def one_line(e: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


# -- round trips ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, params", [(HOLDS, {"rms": 3}), (HOLDS, {"rms": 4}), (WIDE, {})])
@pytest.mark.parametrize("fingerprint", [False, True])
@pytest.mark.parametrize("levels, fraction", [(0, 0.0), (0, 1.0), (3, 0.0), (4, 0.5), (6, 1.0)])
def test_a_round_trip_gives_back_what_was_written(tmp_path, spec, params, fingerprint, levels, fraction):
    system, invs = prepare(spec, params)
    store = partial_store(system, levels, fraction, fingerprint)
    path = save(tmp_path, system, invs, store, fingerprint)
    assert path == tmp_path / FILE and sorted(os.listdir(tmp_path)) == [FILE]
    loaded = load(tmp_path, system, invs, fingerprint)
    assert same(loaded, store)
    assert load(path, system, invs, fingerprint)["depth"] == store[4]  # the file itself, too
    if not fingerprint:  # the parallel search finds a parent's position by identity: parents are the keys
        ids = {id(k) for k in loaded["seen"]}
        assert all(p is None or id(p) in ids for p in loaded["seen"].values())
        assert all(id(s) in ids for s in loaded["level"] + loaded["next"])


def test_a_wide_slot_round_trips_its_high_bits(tmp_path):
    system, invs = prepare(WIDE, {})
    store = partial_store(system, 8, 0.5)
    assert max(max(s) for s in store[0]) >= 1 << 64  # the bitmask reaches past 64 bits here
    save(tmp_path, system, invs, store)
    assert same(load(tmp_path, system, invs), store)


@pytest.mark.parametrize("fingerprint", [False, True])
def test_saves_of_one_saver_equal_a_fresh_save(tmp_path, fingerprint):
    """A saver encodes only the states found since its previous save: its file is the one a fresh saver
    writes, save after save, inside levels and at their ends."""
    system, invs = prepare(HOLDS, {"rms": 4})
    saver = Checkpointer(SearchOptions(checkpoint_dir=str(tmp_path / "a"),
                                       store="fingerprint" if fingerprint else "exact"), system, invs)
    fp = fingerprinter(system.schema) if fingerprint else (lambda s: s)
    seen, level, nxt, at, depth, counts, g0 = partial_store(system, 0, 0.0, fingerprint)
    expanded = 0
    while level:
        s = level[at]
        for i, a in enumerate(system.actions):
            ts = a.successors(s)
            counts[i] += len(ts)
            for t in ts:
                if fp(t) not in seen:
                    seen[fp(t)] = fp(s)
                    nxt.append(t)
        at, expanded = at + 1, expanded + 1
        if at == len(level):
            level, nxt, at, depth = nxt, [], 0, depth + 1 if nxt else depth
        elif expanded % 97:
            continue
        if not level:  # finished: nothing to resume
            break
        store = (seen, level, nxt, at, depth, counts, g0)
        saver.save(*store)
        save(tmp_path / "b", system, invs, store, fingerprint)
        with np.load(tmp_path / "a" / FILE) as a, np.load(tmp_path / "b" / FILE) as b:
            assert sorted(a.files) == sorted(b.files)
            for name in a.files:
                assert np.array_equal(a[name], b[name]), name
        assert same(load(tmp_path / "a", system, invs, fingerprint), store)
    assert saver.written > 10


# -- pickles are never loaded ------------------------------------------------------------------------------------------------


class Marker:
    """Unpickling this creates the file `path`."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_the_marker_works(tmp_path):
    pickle.loads(pickle.dumps(Marker(tmp_path / "m")))
    assert (tmp_path / "m").exists()  # so its absence below means: never unpickled


@pytest.mark.parametrize("how", ["old file", "new name", "object array", "old file beside a good one"])
def test_a_pickle_is_never_unpickled(tmp_path, twophase, how):
    system, invs, store = twophase
    marker = tmp_path / "PWNED"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    evil = pickle.dumps({"format": "faultcheck-checkpoint/1", "seen": Marker(marker)})
    if how == "old file":
        (ckpt / "checkpoint.pickle").write_bytes(evil)
    elif how == "new name":
        (ckpt / FILE).write_bytes(evil)
    elif how == "object array":  # an .npz whose array is a pickled object (np.save with allow_pickle)
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(b"{}", dtype=np.uint8), parents=np.array([Marker(marker)], dtype=object))
        (ckpt / FILE).write_bytes(buf.getvalue())
    else:
        save(ckpt, system, invs, store)
        (ckpt / "checkpoint.pickle").write_bytes(evil)
        assert same(load(ckpt, system, invs), store)  # the good one is read; the pickle is not touched
        assert not marker.exists()
        with pytest.raises(CheckpointError) as e:
            load(ckpt / "checkpoint.pickle", system, invs)
        assert "not loaded" in one_line(e, ckpt / "checkpoint.pickle")
        return
    with pytest.raises(CheckpointError) as e:
        load(ckpt, system, invs)
    one_line(e, ckpt)
    assert not marker.exists()


def test_a_pickle_on_the_command_line_is_one_line_and_never_run(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "checkpoint.pickle").write_bytes(pickle.dumps(Marker(marker)))
    code = main(["check", str(HOLDS), "--resume", str(tmp_path / "ckpt"), "-q", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "checkpoint.pickle" in err[0] and "not loaded" in err[0]
    assert not marker.exists()


# -- damaged and doctored files ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(twophase, tmp_path_factory):
    system, invs, store = twophase
    d = tmp_path_factory.mktemp("good")
    return save(d, system, invs, store).read_bytes()


def outcome(data: bytes, tmp_path: Path, system, invs, store) -> str:
    """"refused" (one line naming the file) or "same" (exactly what was written); anything else fails."""
    d = tmp_path / "c"
    d.mkdir(exist_ok=True)
    (d / FILE).write_bytes(data)
    try:
        loaded = load(d, system, invs)
    except CheckpointError as e:
        assert "\n" not in str(e) and str(d / FILE) in str(e), str(e)
        return "refused"
    assert same(loaded, store), "a damaged checkpoint loaded as something else"
    return "same"


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_flipped_bytes_are_refused_or_harmless(twophase, good, tmp_path_factory, data):
    system, invs, store = twophase
    at = data.draw(st.integers(0, len(good) - 1))
    flip = data.draw(st.integers(1, 255))
    doctored = good[:at] + bytes([good[at] ^ flip]) + good[at + 1:]
    assert outcome(doctored, tmp_path_factory.mktemp("flip"), system, invs, store) in ("refused", "same")


def test_a_flipped_byte_in_the_data_is_refused(twophase, good, tmp_path):
    system, invs, store = twophase
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = z.getinfo("narrow.npy")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 5  # inside the array's bytes
    assert outcome(good[:at] + bytes([good[at] ^ 1]) + good[at + 1:], tmp_path, system, invs, store) == "refused"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_files_are_refused(twophase, good, tmp_path_factory, data):
    system, invs, store = twophase
    cut = data.draw(st.integers(0, len(good) - 1))
    assert outcome(good[:cut], tmp_path_factory.mktemp("cut"), system, invs, store) == "refused"


def read(data: bytes) -> tuple[dict, dict]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def write(header: dict, arrays: dict, *, forge: bool) -> bytes:
    """The archive with this header and these arrays; `forge`: with the checksum recomputed, as a
    forger would, so that only the structural checks stand in the way."""
    header = dict(header)
    if forge:
        header["checksum"] = cp._digest(header, arrays)
    buf = io.BytesIO()
    cp._write(buf, header, arrays)
    return buf.getvalue()


@pytest.mark.parametrize("key, value", [("depth", 5), ("at", 0), ("counts", [0] * 9), ("states", 7),
                                        ("generated0", 2), ("next", 0)])
def test_an_edited_header_fails_the_checksum(twophase, good, tmp_path, key, value):
    system, invs, store = twophase
    header, arrays = read(good)
    header[key] = value if key != "counts" else [0] * len(header["counts"])
    assert header != read(good)[0]
    assert outcome(write(header, arrays, forge=False), tmp_path, system, invs, store) == "refused"


def test_an_edited_array_fails_the_checksum(twophase, good, tmp_path):
    system, invs, store = twophase
    header, arrays = read(good)
    arrays["parents"] = arrays["parents"].copy()
    arrays["parents"][-1] -= 1
    assert outcome(write(header, arrays, forge=False), tmp_path, system, invs, store) == "refused"


def forgeries(header: dict, arrays: dict, system) -> dict[str, tuple[dict, dict, str]]:
    """Doctored contents with a correct checksum, each with what the refusal must say."""
    n, nl, nn = header["states"], header["level"], header["next"]
    out = {}

    def edit(name, fn, what, **head):
        a = {k: v.copy() for k, v in arrays.items()}
        fn(a)
        out[name] = ({**header, **head}, a, what)

    def slot(a):
        a["narrow"][n // 2, 0] = system.schema.slot_bounds[0]  # one past the largest value of slot 0

    edit("slot out of range", slot, "outside its type")
    edit("parent points forward", lambda a: a["parents"].__setitem__(3, n - 1), "parent link")
    edit("a second root", lambda a: a["parents"].__setitem__(n - 1, -1), "initial states")
    edit("counts too small", lambda a: None, "counts", counts=[0] * len(header["counts"]))
    edit("at past the level", lambda a: None, "at =", at=nl + 1)
    edit("other depth", lambda a: None, "depth", depth=header["depth"] + 1)
    edit("level shifted", lambda a: None, "level", level=nl - 1, next=nn + 1)
    edit("nothing left", lambda a: None, "nothing left to resume", level=0, next=0, at=0)
    edit("more states than the arrays", lambda a: None, "array 'parents'", states=n + 1)
    edit("generated0", lambda a: None, "generated0", generated0=header["generated0"] + 1)
    edit("an initial state replaced", lambda a: a["narrow"].__setitem__(0, a["narrow"][n - 1]), "damaged")
    edit("a state twice", lambda a: a["narrow"].__setitem__(n - 1, a["narrow"][n - 2]), "twice")
    edit("parents shortened", lambda a: a.__setitem__("parents", a["parents"][:-1]), "array 'parents'")
    edit("wider dtype", lambda a: a.__setitem__("narrow", a["narrow"].astype(np.uint64)), "array 'narrow'")
    edit("extra array", lambda a: a.__setitem__("more", np.zeros(3, dtype=np.int64)), "unexpected array")
    edit("no parents", lambda a: a.pop("parents"), "no array 'parents'")
    edit("other format", lambda a: None, "format", format="faultcheck-checkpoint/1")
    edit("other params", lambda a: None, "params", params={"rms": 4})
    return out


def test_forged_contents_are_refused_by_what_they_break(twophase, good, tmp_path):
    system, invs, store = twophase
    header, arrays = read(good)
    for name, (h, a, what) in forgeries(header, arrays, system).items():
        (tmp_path / name).mkdir()
        (tmp_path / name / FILE).write_bytes(write(h, a, forge=True))
        with pytest.raises(CheckpointError) as e:
            load(tmp_path / name, system, invs)
        assert what in one_line(e, tmp_path / name / FILE), (name, str(e.value))
        assert "damaged" in str(e.value) or what in ("format", "params"), (name, str(e.value))
    (tmp_path / "unforged").mkdir()
    (tmp_path / "unforged" / FILE).write_bytes(write(header, arrays, forge=True))
    assert same(load(tmp_path / "unforged", system, invs), store)  # forging what is true changes nothing


def test_not_an_archive_and_a_bad_header(twophase, good, tmp_path):
    system, invs, store = twophase
    assert outcome(b"hello, not a checkpoint", tmp_path, system, invs, store) == "refused"
    header, arrays = read(good)
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(b"[1, 2", dtype=np.uint8), **arrays)
    assert outcome(buf.getvalue(), tmp_path, system, invs, store) == "refused"


# -- checkpoints of something else ----------------------------------------------------------------------------------------------


def test_a_checkpoint_for_other_options_is_refused(twophase, tmp_path):
    system, invs, store = twophase
    save(tmp_path, system, invs, store)
    for opts, what in ((dict(check_deadlock=False), "check_deadlock"), (dict(max_depth=9), "max_depth")):
        with pytest.raises(CheckpointError) as e:
            load(tmp_path, system, invs, **opts)
        assert f"written for {what}" in one_line(e, tmp_path / FILE)
    with pytest.raises(CheckpointError) as e:
        load(tmp_path, system, invs, fingerprint=True)
    assert "written for store" in one_line(e, tmp_path / FILE)
    with pytest.raises(CheckpointError) as e:
        load(tmp_path, system, invs[:1])
    assert "written for invariants" in one_line(e, tmp_path / FILE)


class StopAt:
    """A monitor that presses Ctrl-C at its k-th tick."""

    def __init__(self, k):
        self.k = k

    def start(self):
        pass

    def tick(self, distinct, generated, depth):
        self.k -= 1
        if self.k <= 0:
            raise KeyboardInterrupt
        return None

    def finish(self, stats):
        pass


def test_a_checkpoint_of_another_spec_file_is_refused(tmp_path):
    (tmp_path / "copy.toml").write_text(HOLDS.read_text())
    part = check(HOLDS, out=None, lint=False, checkpoint_dir=tmp_path / "ckpt", checkpoint_every=1e-9,
                 monitor=StopAt(3))
    assert part.exit_code == 3
    with pytest.raises(SpecError) as e:
        check(tmp_path / "copy.toml", out=None, lint=False, resume=tmp_path / "ckpt")
    assert "written for system" in str(e.value) and "copy.toml" in str(e.value) and "\n" not in str(e.value)
    assert check(HOLDS, out=None, lint=False, resume=tmp_path / "ckpt").exit_code == 0


def test_a_doctored_checkpoint_on_the_command_line_is_exit_2_in_one_line(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    part = check(HOLDS, out=None, lint=False, checkpoint_dir=ckpt, checkpoint_every=1e-9, monitor=StopAt(3))
    assert part.exit_code == 3
    header, arrays = read((ckpt / FILE).read_bytes())
    header["at"] = header["level"]  # claim the whole level was expanded
    (ckpt / FILE).write_bytes(write(header, arrays, forge=False))
    code = main(["check", str(HOLDS), "--resume", str(ckpt), "-q", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(ckpt / FILE) in err[0] and "checksum" in err[0]


def test_a_named_pipe_as_checkpoint_is_refused_without_blocking(tmp_path, capsys):
    """Opening a FIFO for reading blocks until a writer comes: it must be refused before it is opened."""
    fifo = tmp_path / FILE
    os.mkfifo(fifo)
    code = main(["check", str(Path(__file__).resolve().parents[2] / "specs" / "two_phase_commit_tla.toml"),
                 "-q", "--out", str(tmp_path / "out"), "--resume", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(fifo) in err[0] and "not a regular file" in err[0]
