#!/usr/bin/env python3
"""Compare a slither JSON report with the committed triage file; fail on new High/Medium findings.

Usage: triage.py REPORT.json TRIAGE.toml

REPORT.json is what `slither --json REPORT.json` wrote. TRIAGE.toml (slither.triage.toml at the
repository root) lists the findings that were reviewed and accepted, one table each:

    [[accepted]]
    detector = "timestamp"                  # slither's detector name (the "check" field)
    location = "AgentMarketplace.settle"    # see below
    reason = "Deadlines are minutes to days away; a validator's drift does not matter."

A finding's location comes from its first element in our own sources (a file under
contracts/), never from line numbers, so edits elsewhere in a file do not invalidate an entry:

    function, or a statement or local variable inside one   Contract.function
    state variable, event, struct, enum, error              Contract.name
    contract                                                Contract
    pragma directive                                        pragma

Overloads share one location (an entry covers every overload of the function). An entry
accepts every finding of its detector at its location.

Findings with no element under contracts/ are out of scope and ignored (slither's
--include-paths already drops them; this check does not depend on its regex).

Exit status: 0 when every High and Medium finding is triaged (untriaged Low, Informational and
Optimization findings are listed but do not fail); 1 when at least one High or Medium finding
is not triaged; 2 when the report or the triage file cannot be used (slither failed, malformed
entry). Entries that match nothing are listed as stale, without failing: a contract fix may
remove a finding before the triage file is updated.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

SCOPE = "contracts/"
FAILING_IMPACTS = ("High", "Medium")
ENTRY_KEYS = {"detector", "location", "reason"}


class TriageError(Exception):
    """The report or the triage file cannot be used."""


@dataclass(frozen=True)
class Finding:
    detector: str
    impact: str
    location: str
    where: str  # file#lines of the first in-scope element, for humans only
    summary: str  # first line of slither's description

    @property
    def key(self) -> tuple[str, str]:
        return (self.detector, self.location)


@dataclass(frozen=True)
class Entry:
    detector: str
    location: str
    reason: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.detector, self.location)


def _filename(element: dict) -> str:
    return element.get("source_mapping", {}).get("filename_relative", "") or ""


def _parent(element: dict) -> dict:
    return element.get("type_specific_fields", {}).get("parent", {}) or {}


def _location(element: dict) -> str:
    """The robust name of an element: Contract.function, Contract.member, Contract or pragma."""
    kind = element.get("type")
    name = element.get("name", "")
    parent = _parent(element)
    if kind == "pragma":
        return "pragma"
    if kind == "contract":
        return name
    if kind == "function":
        return f"{parent.get('name', '?')}.{name}" if parent else name
    if parent.get("type") == "function":
        # A statement (node) or a local variable: name the function that holds it.
        return _location(parent)
    if parent.get("type") == "contract":
        return f"{parent['name']}.{name}"
    # A file-level declaration (free function, struct, error): no contract to name.
    return f"{_filename(element)}:{name}"


def findings_from_report(report: dict) -> list[Finding]:
    """The in-scope detector findings of a slither JSON report."""
    if not report.get("success", False):
        raise TriageError(f"slither failed: {report.get('error')}")
    results = report.get("results", {}).get("detectors", [])
    findings = []
    for result in results:
        in_scope = [e for e in result.get("elements", []) if _filename(e).startswith(SCOPE)]
        if not in_scope:
            continue
        first = in_scope[0]
        lines = first.get("source_mapping", {}).get("lines", [])
        where = _filename(first) + (f"#L{lines[0]}-L{lines[-1]}" if lines else "")
        description = result.get("description", "").strip()
        findings.append(
            Finding(
                detector=result["check"],
                impact=result["impact"],
                location=_location(first),
                where=where,
                summary=description.splitlines()[0] if description else "",
            )
        )
    return findings


def load_entries(text: str) -> list[Entry]:
    """Parses and validates the triage file: every entry has a detector, a location and a
    one-line reason, nothing else, and no entry is listed twice."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TriageError(f"triage file is not valid TOML: {err}") from err
    unknown_tables = set(data) - {"accepted"}
    if unknown_tables:
        raise TriageError(f"triage file: unknown top-level keys {sorted(unknown_tables)}")
    entries: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(data.get("accepted", []), start=1):
        label = f"triage entry #{index}"
        if set(raw) != ENTRY_KEYS:
            raise TriageError(f"{label}: needs exactly {sorted(ENTRY_KEYS)}, has {sorted(raw)}")
        if not all(isinstance(raw[key], str) and raw[key].strip() for key in ENTRY_KEYS):
            raise TriageError(f"{label}: detector, location and reason must be non-empty strings")
        if "\n" in raw["reason"]:
            raise TriageError(f"{label} ({raw['detector']} {raw['location']}): reason must be one line")
        entry = Entry(raw["detector"], raw["location"], raw["reason"].strip())
        if entry.key in seen:
            raise TriageError(f"{label}: {entry.detector} {entry.location} is listed twice")
        seen.add(entry.key)
        entries.append(entry)
    return entries


def triage(findings: list[Finding], entries: list[Entry], out) -> int:
    """Prints the comparison and returns the exit status (0 clean, 1 new High/Medium)."""
    accepted = {entry.key for entry in entries}
    new = [f for f in findings if f.key not in accepted]
    failing = [f for f in new if f.impact in FAILING_IMPACTS]
    listed = [f for f in new if f.impact not in FAILING_IMPACTS]
    matched = {f.key for f in findings}
    stale = [entry for entry in entries if entry.key not in matched]

    print(
        f"slither: {len(findings)} finding(s) in {SCOPE}, {len(findings) - len(new)} triaged, "
        f"{len(failing)} new High/Medium, {len(listed)} new Low/Informational",
        file=out,
    )
    for finding in failing + listed:
        status = "NEW (fails)" if finding in failing else "new (listed)"
        print(
            f"  {status} {finding.impact} {finding.detector} at {finding.location} ({finding.where})",
            file=out,
        )
        print(f"      {finding.summary}", file=out)
    for entry in stale:
        print(
            f"  stale triage entry (nothing matches it, remove it): {entry.detector} {entry.location}",
            file=out,
        )
    if new:
        print("To accept a finding after review, add to slither.triage.toml:", file=out)
        for key in dict.fromkeys(f.key for f in new):
            print(
                f'\n  [[accepted]]\n  detector = "{key[0]}"\n  location = "{key[1]}"\n  reason = "..."',
                file=out,
            )
    if failing:
        print(f"slither: FAILED, {len(failing)} untriaged High/Medium finding(s)", file=out)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    try:
        report = json.loads(Path(argv[1]).read_text())
        entries = load_entries(Path(argv[2]).read_text())
        findings = findings_from_report(report)
    except (OSError, ValueError, TriageError) as err:
        print(f"slither triage: {err}", file=sys.stderr)
        return 2
    return triage(findings, entries, sys.stdout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
