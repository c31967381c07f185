"""The HTML trace viewer (checker/trace/html.py) in headless Chromium: the chart and the state panel
render, the keyboard, the buttons and clicks on the chart move between steps, what changed is
highlighted, and a screenshot lands in .faultcheck/screenshots/trace-viewer.png for a person to look at.

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver) and
selenium (tests/browser.py starts it, giving the driver's path, so it never downloads one); without them
the tests are skipped, naming the packages, except under .ci/run (FAULTCHECK_REQUIRE_TOOLS=1), where
they fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.trace import Trace
from checker.trace.html import to_html
from tests.browser import chrome, console_errors

ROOT = Path(__file__).resolve().parents[2]
TPC = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
ACK_EARLY = ROOT / "counterexamples" / "primary_backup_ack_early.json"
SCREENSHOT = ROOT / ".faultcheck" / "screenshots" / "trace-viewer.png"
pytestmark = pytest.mark.needs_chromium


@pytest.fixture(scope="module")
def driver():
    with chrome() as d:
        yield d


def open_viewer(driver, trace: Trace, tmp_path: Path, name: str = "viewer.html"):
    page = tmp_path / name
    page.write_text(to_html(trace), encoding="utf-8")
    driver.get(page.as_uri())
    driver.get_log("browser")  # start each page with an empty console


def changed_paths(before: dict, after: dict) -> set[str]:
    """What the panel should mark changed: a record's (or a map's) fields one by one, anything else whole."""
    out = set()
    for name, new in after.items():
        old = before[name]
        if isinstance(new, dict) and "type" not in new:
            out |= {f"{name}.{k}" for k in new if old.get(k) != new[k]}
        elif old != new:
            out.add(name)
    return out


def text(driver, css: str) -> str:
    """The element's textContent (Selenium's .text would fold the label's two spaces into one)."""
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", css)


def rows(driver, css: str) -> dict[str, tuple[str, str]]:
    """data-path -> (old text, new text) of the panel's rows matching `css`."""
    return driver.execute_script(
        """return Object.fromEntries([...document.querySelectorAll(arguments[0])].map(tr => [tr.dataset.path,
             [(tr.querySelector('.old') || {}).textContent || null, tr.querySelector('.new').textContent]]));""",
        css)


def test_the_viewer_steps_through_a_trace(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    trace = Trace.load(TPC)
    states = [st.state for st in trace.steps]
    last = len(trace.steps) - 1
    open_viewer(driver, trace, tmp_path)
    body = driver.find_element(By.TAG_NAME, "body")

    # the chart: an inline SVG with a group per row and per lane, drawn at a real size
    svg = driver.find_element(By.CSS_SELECTOR, "#chart svg")
    assert svg.size["width"] > 300 and svg.size["height"] > 200
    for i in range(len(trace.steps)):
        assert driver.find_elements(By.CSS_SELECTOR, f"#chart g#row-{i}"), i
    for lane in ("tm1", "rm1", "rm2", "rm3"):
        assert driver.find_elements(By.CSS_SELECTOR, f"#chart g#lane-{lane}"), lane
    # the state panel: a card per variable, in the state's order; nothing changed at the start
    cards = driver.find_elements(By.CSS_SELECTOR, "#state .card")
    assert [c.get_attribute("data-name") for c in cards] == list(states[0])
    assert all(c.is_displayed() for c in cards)
    assert text(driver, "#step-label") == "0  initial state"
    assert text(driver, "#position") == f"step 0 of {last}"
    assert rows(driver, "tr.changed") == {}

    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert text(driver, "#step-label") == f"2  {trace.steps[2].label}" == "2  Prepare tm1→rm2 (chose abort)"
    assert text(driver, "#position") == f"step 2 of {last}"
    want = changed_paths(states[1], states[2])
    assert want == {"rm2.state", "network"}  # read by hand: rm2 aborts, the network changes
    changed = rows(driver, "tr.changed")
    assert set(changed) == want
    assert changed["rm2.state"] == [states[1]["rm2"]["state"], states[2]["rm2"]["state"]] == ["working", "aborted"]
    assert [c.get_attribute("data-name") for c in driver.find_elements(By.CSS_SELECTOR, ".card.acting")] == ["rm2"]
    assert "current" in driver.find_element(By.ID, "row-2").get_attribute("class")
    assert "current" not in driver.find_element(By.ID, "row-1").get_attribute("class")
    highlight = driver.execute_script(
        "return getComputedStyle(document.querySelector('tr.changed td')).backgroundColor")
    plain = driver.execute_script(
        "return getComputedStyle(document.querySelector('tr:not(.changed) td')).backgroundColor")
    assert highlight != plain  # the change is visible, not just a class
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 10_000

    body.send_keys(Keys.ARROW_LEFT)
    assert text(driver, "#step-label") == f"1  {trace.steps[1].label}"
    assert set(rows(driver, "tr.changed")) == changed_paths(states[0], states[1])
    body.send_keys(Keys.HOME)
    assert text(driver, "#step-label") == "0  initial state"
    body.send_keys(Keys.ARROW_LEFT)  # nothing before the start
    assert driver.execute_script("return window.faultcheckViewer.at()") == 0
    body.send_keys(Keys.END)
    assert text(driver, "#step-label") == f"{last}  {trace.steps[last].label}"
    core = {f["field"] for f in trace.extra["violation_core"]["fields"]}
    assert set(rows(driver, "tr.core")) == core == {"rm1.state", "rm2.state"}
    body.send_keys(Keys.ARROW_RIGHT)  # nothing after the end
    assert driver.execute_script("return window.faultcheckViewer.at()") == last
    body.send_keys("k")
    assert driver.execute_script("return window.faultcheckViewer.at()") == last - 1
    body.send_keys("j")
    assert driver.execute_script("return window.faultcheckViewer.at()") == last

    # clicking a row of the chart selects that step
    driver.find_element(By.CSS_SELECTOR, "#chart g#row-3").click()
    assert text(driver, "#step-label") == f"3  {trace.steps[3].label}"
    assert driver.execute_script("return window.faultcheckViewer.at()") == 3
    assert set(rows(driver, "tr.changed")) == changed_paths(states[2], states[3])
    # and the buttons
    for button, at in (("next", 4), ("first", 0), ("last", last), ("back", last - 1)):
        driver.find_element(By.ID, button).click()
        assert driver.execute_script("return window.faultcheckViewer.at()") == at, button
    driver.execute_script("window.faultcheckViewer.go(99)")
    assert driver.execute_script("return window.faultcheckViewer.at()") == last
    assert console_errors(driver) == []


def test_a_crashed_node_is_shown_down(driver, tmp_path):
    from selenium.webdriver.common.by import By

    trace = Trace.load(ACK_EARLY)
    crash = [i for i, st in enumerate(trace.steps) if st.kind == "crash"]
    assert crash == [4] and trace.steps[4].params == ("server1",)
    open_viewer(driver, trace, tmp_path)

    def down() -> list[str]:
        return [c.get_attribute("data-name") for c in driver.find_elements(By.CSS_SELECTOR, "#state .card.down")]

    for i in range(len(trace.steps)):
        driver.execute_script(f"window.faultcheckViewer.go({i})")
        assert down() == (["server1"] if i >= 4 else []), i
    driver.execute_script("window.faultcheckViewer.go(4)")
    assert "(down)" in text(driver, '.card[data-name="server1"] h3')
    assert console_errors(driver) == []


def hand_trace(value: str) -> Trace:
    return Trace.from_json({
        "format": "faultcheck-trace/1", "spec": None, "protocol": "hand:Made", "params": {}, "property": None,
        "verdict": "bounded",
        "steps": [{"kind": "init", "state": {"box": {"note": "plain"}}},
                  {"kind": "action", "action": "Write", "params": [], "state": {"box": {"note": value}}}]})


def test_a_state_holding_a_script_end_tag_is_shown_as_text(driver, tmp_path):
    evil = "</script><script>window.owned = 1</script>"
    open_viewer(driver, hand_trace(evil), tmp_path)
    assert driver.execute_script("return typeof window.faultcheckViewer") == "object"
    assert driver.execute_script("return window.owned === undefined")
    driver.execute_script("window.faultcheckViewer.go(1)")
    assert rows(driver, "tr.changed") == {"box.note": ["plain", evil]}
    data = json.loads(driver.execute_script("return document.getElementById('trace-data').textContent"))
    assert data["steps"][1]["state"] == {"box": {"note": evil}}


def test_a_state_holding_an_html_comment_and_script_opener_still_works(driver, tmp_path):
    open_viewer(driver, hand_trace("<!--<script>"), tmp_path)
    assert driver.execute_script("return typeof window.faultcheckViewer") == "object"
    driver.execute_script("window.faultcheckViewer.go(1)")
    assert rows(driver, "tr.changed") == {"box.note": ["plain", "<!--<script>"]}
