"""JUnit XML for CI systems: one test case per spec. A pure function of the cases.

A `Case` holds only what the report needs (plain values, JSON both ways), so a spec checked in a
child process sends its case back to the supervisor through a pipe. Imports spec's `CheckResult`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..spec import CheckResult


@dataclass(frozen=True)
class Case:
    """One spec's test case: its path, exit code, one-line message and what goes under it."""

    path: str
    code: int  # 0 as expected, 1 not as expected, 2 error, 3 undetermined
    message: str
    seconds: float = 0.0
    error: str | None = None  # the model's traceback, or a longer account of the error
    counterexample: str | None = None
    verdict: str | None = None  # with the counts below: the system-out line; None when nothing was checked
    distinct: int = 0
    generated: int = 0
    depth: int = 0

    @classmethod
    def of(cls, path: str, r: CheckResult | None, message: str) -> Case:
        """The case of a check result; `r` None: the spec could not be checked (exit 2)."""
        if r is None:
            return cls(path, 2, message)
        s = r.stats
        return cls(path, r.exit_code, message, s.seconds, r.error, r.counterexample, r.verdict.value, s.distinct,
                   s.generated, s.depth)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        return cls(**data)


def junit_xml(results: list[Case] | list[tuple[str, CheckResult | None, str]]) -> str:
    """`results`: a `Case` per spec, or (spec path, its result or None when it could not be checked,
    the one-line message).

    Exit 1 and 3 (not as expected, undetermined) are failures; exit 2 (bad input) is an error.
    """
    cases = []
    failures = errors = 0
    total = 0.0
    for item in results:
        c = item if isinstance(item, Case) else Case.of(*item)
        total += c.seconds
        case = ET.Element("testcase", classname="faultcheck", name=Path(c.path).stem, file=c.path,
                          time=f"{c.seconds:.3f}")
        if c.code == 2:
            errors += 1
            ET.SubElement(case, "error", message=c.message, type="error").text = c.error or c.message
        elif c.code in (1, 3):
            failures += 1
            kind = "undetermined" if c.code == 3 else "unexpected"
            el = ET.SubElement(case, "failure", message=c.message, type=kind)
            if c.verdict is not None:
                el.text = f"{c.message}\ncounterexample: {c.counterexample}" if c.counterexample else c.message
        if c.verdict is not None:
            ET.SubElement(case, "system-out").text = (
                f"verdict {c.verdict}; {c.distinct} distinct states, {c.generated} generated, depth {c.depth}"
            )
        cases.append(case)
    suite = ET.Element("testsuite", name="faultcheck", tests=str(len(cases)), failures=str(failures),
                       errors=str(errors), skipped="0", time=f"{total:.3f}")
    suite.extend(cases)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
