"""docs/tutorial.ipynb runs: executed top to bottom in a fresh Jupyter kernel (nbclient, the kernel
started in docs/ as Jupyter would), no cell raises, and the cells that show a result show what the
tutorial's prose says they show. Cells are found by their tags, not their positions.

Slow (a kernel start and every check of the tutorial: about 4 s here); `.ci/run` runs it with the slow
half. The committed notebook carries no outputs (outputs are made here, never reviewed as diffs).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from checker.spec import check

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def outputs_html(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # a cell that raises raises CellExecutionError here, with the cell and its traceback
    tagged = {}
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            assert tag not in tagged, f"tag {tag} on two cells"
            tagged[tag] = cell
    return nb, tagged


@pytest.mark.slow
def test_tutorial_runs_and_shows_what_it_says(executed) -> None:
    nb, cell = executed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert "working in" in outputs_text(cell["setup"])

    broken = outputs_html(cell["broken"])  # the counterexample, with its viewer inline
    assert "violated Consistent, as expected" in broken and "<iframe" in broken and "trace-data" in broken
    assert "<iframe" in outputs_html(cell["loaded"])  # a loaded trace shows the same way
    # the explorer, embedded: an iframe onto the kernel's own server on 127.0.0.1; its session driven from Python
    assert re.search(r'<iframe src="http://127\.0\.0\.1:\d+/"', outputs_html(cell["explore"]))
    walked = outputs_text(cell["explore-session"]).splitlines()
    assert "counterexample" in walked[0]
    assert walked[1:] == ["[('Consistent', False)]", "[('Consistent', True)]"]

    fixed = outputs_html(cell["fixed"])
    distinct = check(ROOT / "specs" / "two_phase_commit_ok.toml", out=None).stats.distinct
    assert "holds, as expected" in fixed and "<iframe" not in fixed
    assert f">{distinct:,}</td>" in fixed

    # the growth table: one row per number of RMs, symmetry never keeping more states than without it
    rows = [list(map(lambda x: int(x.replace(",", "")), r))
            for r in re.findall(r"^\s*(\d+)\s+([\d,]+)\s+([\d,]+)\s*$", outputs_text(cell["growth"]), re.M)]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert all(reduced <= plain for _, plain, reduced in rows) and rows[2][1] == distinct

    blocking = outputs_html(cell["blocking"])
    assert "violated PreparedRMsDecide, as expected" in blocking and "A lasso" in blocking and "<iframe" in blocking
    assert "holds, as expected" in outputs_html(cell["recovery"])

    assert "not inductive" in outputs_html(cell["cti"])
    for tag in ("proof", "proof4"):
        proved = outputs_html(cell[tag])
        assert "inductive, for every state" in proved and "not inductive" not in proved
    assert '{"rms": 12}' in html.unescape(outputs_html(cell["proof4"]))
