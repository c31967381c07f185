"""JUnit XML for CI systems: one test case per spec. A pure function of the check results."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..spec import CheckResult


def junit_xml(results: list[tuple[str, CheckResult | None, str]]) -> str:
    """`results`: (spec path, its result or None when it could not be checked, the one-line message).

    Exit 1 and 3 (not as expected, undetermined) are failures; exit 2 (bad input) is an error.
    """
    cases = []
    failures = errors = 0
    total = 0.0
    for path, r, message in results:
        seconds = r.stats.seconds if r is not None else 0.0
        total += seconds
        case = ET.Element("testcase", classname="faultcheck", name=Path(path).stem, file=path, time=f"{seconds:.3f}")
        code = r.exit_code if r is not None else 2
        if code == 2:
            errors += 1
            ET.SubElement(case, "error", message=message, type="error").text = (r.error or message) if r else message
        elif code in (1, 3):
            failures += 1
            kind = "undetermined" if code == 3 else "unexpected"
            el = ET.SubElement(case, "failure", message=message, type=kind)
            if r is not None:
                el.text = f"{message}\ncounterexample: {r.counterexample}" if r.counterexample else message
        if r is not None:
            s = r.stats
            ET.SubElement(case, "system-out").text = (
                f"verdict {r.verdict.value}; {s.distinct} distinct states, {s.generated} generated, depth {s.depth}"
            )
        cases.append(case)
    suite = ET.Element("testsuite", name="faultcheck", tests=str(len(cases)), failures=str(failures),
                       errors=str(errors), skipped="0", time=f"{total:.3f}")
    suite.extend(cases)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
