"""The explorer (`faultcheck explore`) driven end to end in headless Chromium: a 2PC violation clicked through
by hand, the violated invariant shown in red, back, the counterexample shortcut, the path exported from the
page and replayed by `faultcheck replay` (exit 0), a random walk, restart; a screenshot for a person lands in
.faultcheck/screenshots/explorer.png. Skipped, naming the Debian packages, where Chromium is absent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.explorer.server import Server
from checker.spec.explore import session
from checker.trace import Trace
from tests.browser import chrome, console_errors

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "two_phase_commit_early_commit.toml"
COUNTEREXAMPLE = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
SCREENSHOT = ROOT / ".faultcheck" / "screenshots" / "explorer.png"
RED = ("rgb(176, 0, 32)", "rgba(176, 0, 32, 1)")  # --bad on the page
pytestmark = pytest.mark.needs_chromium


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads):
    with chrome(downloads) as d:
        yield d


@pytest.fixture
def explorer(driver):
    server = Server(session(SPEC), idle=300).start()
    driver.get(server.url)
    wait_for(driver, lambda: position(driver) == 0)
    driver.get_log("browser")
    try:
        yield server
    finally:
        server.stop()


def wait_for(driver, cond, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except Exception:  # the page is being redrawn
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out; page message: {driver.find_element('id', 'message').text!r}")


def position(driver) -> int | None:
    p = driver.execute_script("return document.body.dataset.position")
    return None if p is None else int(p)


def step_buttons(driver) -> dict[str, object]:
    return {b.get_attribute("data-label"): b for b in driver.find_elements("css selector", "#steps button.step")}


def click_and_wait(driver, element, expected_position: int) -> None:
    element.click()
    wait_for(driver, lambda: position(driver) == expected_position
             and driver.execute_script("return !document.body.classList.contains('busy')"))


def violated(driver) -> list[str]:
    return [li.get_attribute("data-name") for li in driver.find_elements("css selector", "#invariants li.violated")]


def test_a_violation_by_hand_back_the_shortcut_and_the_export_replays(driver, explorer, downloads):
    cx = Trace.load(COUNTEREXAMPLE)
    labels = [st.label for st in cx.steps[1:]]
    # click through the committed counterexample, step by step, by the buttons' labels
    for i, label in enumerate(labels, 1):
        buttons = step_buttons(driver)
        assert label in buttons, f"step {i}: {label!r} is not offered; the page offers {sorted(buttons)}"
        assert list(buttons).count(label) == 1
        assert violated(driver) == [], f"violated already before step {i}"
        click_and_wait(driver, buttons[label], i)
        assert driver.find_element("id", "last-step").text.endswith(label)
    assert violated(driver) == [cx.property]
    li = driver.find_element("css selector", f'#invariants li[data-name="{cx.property}"]')
    assert li.value_of_css_property("color") in RED
    assert "violated" in driver.find_element("id", "message").text
    # the chart: one row per step so far, the verdict box names the property, the current row highlighted
    chart = driver.find_element("id", "chart")
    rows = chart.find_elements("css selector", '[id^="row-"]')
    assert len(rows) == len(labels) + 1
    assert cx.property in chart.find_element("id", "verdict").text
    assert "current" in chart.find_element("id", f"row-{len(labels)}").get_attribute("class")
    assert [chart.find_element("id", f"row-{i}").text.split(None, 1)[1] for i in range(1, len(labels) + 1)] == labels
    assert "(chose prepare)" in labels[0]  # the choice the handler took, shown on the button and the chart
    # the state panel: what the last step changed is highlighted
    assert driver.find_elements("css selector", "#state tr.changed")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))

    # back: the violation is gone; forward brings it back
    click_and_wait(driver, driver.find_element("id", "back"), len(labels) - 1)
    assert violated(driver) == []
    assert len(driver.find_element("id", "chart").find_elements("css selector", '[id^="row-"]')) == len(labels)
    click_and_wait(driver, driver.find_element("id", "forward"), len(labels))
    assert violated(driver) == [cx.property]

    # restart, then the counterexample shortcut
    click_and_wait(driver, driver.find_element("id", "restart"), 0)
    assert violated(driver) == []
    click_and_wait(driver, driver.find_element("id", "jump-counterexample"), len(cx))
    assert violated(driver) == [cx.property]
    assert "counterexample" in driver.find_element("id", "message").text

    # export the path from the page, and replay the file
    for f in downloads.glob("*.json"):
        f.unlink()
    driver.find_element("id", "export").click()
    end = time.monotonic() + 20
    while not list(downloads.glob("*.json")) and time.monotonic() < end:
        time.sleep(0.1)
    files = list(downloads.glob("*.json"))
    assert len(files) == 1, f"no download in {downloads}: {list(downloads.iterdir())}"
    exported = Trace.load(files[0])
    assert exported.property == cx.property and exported.verdict == "violated"
    assert [st.state for st in exported.steps] == [st.state for st in cx.steps]
    r = subprocess.run([sys.executable, "-m", "checker", "replay", str(files[0])], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert console_errors(driver) == []


def test_random_walk_goto_and_the_keyboard(driver, explorer):
    walk = driver.find_element("id", "walk-steps")
    walk.clear()
    walk.send_keys("3")
    driver.find_element("id", "walk").click()
    wait_for(driver, lambda: (position(driver) or 0) > 0 and "random walk" in driver.find_element("id", "message").text)
    n = position(driver)
    assert 1 <= n <= 3
    # the same walk from the same start, in a new session with the same seed, takes the same steps
    taken = [driver.execute_script("return faultcheckExplorer.view().step")]
    # click the chart's first row: back to the initial state, the walk kept as forward steps
    driver.find_element("id", "row-0").click()
    wait_for(driver, lambda: position(driver) == 0)
    assert driver.find_element("id", "position").text == f"step 0 of {n}"
    driver.find_element("tag name", "body").send_keys("\ue014")  # the right arrow: forward
    wait_for(driver, lambda: position(driver) == 1)
    driver.find_element("tag name", "body").send_keys("\ue012")  # the left arrow: back
    wait_for(driver, lambda: position(driver) == 0)
    s = session(SPEC)
    s.walk(3)
    assert s.steps[-1].label == taken[0]
    assert console_errors(driver) == []
