"""Tests for triage.py, on reports shaped like slither 0.11's JSON output.

Run: python3 -m unittest discover -s tools/slither -p 'test_*.py' (scripts/slither.sh does,
before every analysis).
"""

import io
import unittest

import triage


def contract(name, file="contracts/Market.sol"):
    return {"type": "contract", "name": name, "source_mapping": {"filename_relative": file, "lines": [5, 90]}}


def function(name, contract_name="Market", file="contracts/Market.sol", lines=(10, 20)):
    return {
        "type": "function",
        "name": name,
        "source_mapping": {"filename_relative": file, "lines": list(range(lines[0], lines[1] + 1))},
        "type_specific_fields": {"parent": contract(contract_name, file), "signature": f"{name}(uint256)"},
    }


def node(text, fn):
    return {
        "type": "node",
        "name": text,
        "source_mapping": {"filename_relative": fn["source_mapping"]["filename_relative"], "lines": [12]},
        "type_specific_fields": {"parent": fn},
    }


def result(check, impact, *elements):
    return {
        "check": check,
        "impact": impact,
        "description": f"{check} finding\nmore detail",
        "elements": list(elements),
    }


def report(*results):
    return {"success": True, "error": None, "results": {"detectors": list(results)}}


def run(findings_report, triage_toml):
    out = io.StringIO()
    status = triage.triage(
        triage.findings_from_report(findings_report), triage.load_entries(triage_toml), out
    )
    return status, out.getvalue()


ACCEPT_SETTLE = """
[[accepted]]
detector = "arbitrary-send-eth"
location = "Market.settle"
reason = "Pays only the recorded developer."
"""


class LocationTest(unittest.TestCase):
    def test_statement_and_local_variable_name_their_function(self):
        settle = function("settle")
        local = {
            "type": "variable",
            "name": "expected",
            "source_mapping": {"filename_relative": "contracts/Market.sol", "lines": [14]},
            "type_specific_fields": {"parent": settle},
        }
        self.assertEqual(triage._location(settle), "Market.settle")
        self.assertEqual(triage._location(node("x = 1", settle)), "Market.settle")
        self.assertEqual(triage._location(local), "Market.settle")

    def test_members_contracts_and_pragmas(self):
        event = {
            "type": "event",
            "name": "Paused",
            "source_mapping": {"filename_relative": "contracts/IMarket.sol", "lines": [79]},
            "type_specific_fields": {"parent": contract("IMarket", "contracts/IMarket.sol")},
        }
        self.assertEqual(triage._location(event), "IMarket.Paused")
        self.assertEqual(triage._location(contract("Market")), "Market")
        pragma = {
            "type": "pragma",
            "name": "^0.8.28",
            "source_mapping": {"filename_relative": "contracts/Market.sol"},
        }
        self.assertEqual(triage._location(pragma), "pragma")

    def test_first_element_under_contracts_decides(self):
        # unused-state: the dependency's variable comes first, our contract second.
        dependency_variable = {
            "type": "variable",
            "name": "OFFSET",
            "source_mapping": {"filename_relative": "node_modules/@x/contracts/Base.sol", "lines": [19]},
            "type_specific_fields": {"parent": contract("Base", "node_modules/@x/contracts/Base.sol")},
        }
        findings = triage.findings_from_report(
            report(result("unused-state", "Informational", dependency_variable, contract("Paymaster")))
        )
        self.assertEqual([f.location for f in findings], ["Paymaster"])


class TriageTest(unittest.TestCase):
    def test_new_high_finding_fails(self):
        status, out = run(report(result("arbitrary-send-eth", "High", function("settle"))), "")
        self.assertEqual(status, 1)
        self.assertIn(
            "NEW (fails) High arbitrary-send-eth at Market.settle (contracts/Market.sol#L10-L20)", out
        )
        self.assertIn('location = "Market.settle"', out)

    def test_new_medium_finding_fails(self):
        status, _ = run(report(result("reentrancy-no-eth", "Medium", function("cancel"))), ACCEPT_SETTLE)
        self.assertEqual(status, 1)

    def test_triaged_finding_passes_even_after_its_lines_moved(self):
        moved = function("settle", lines=(140, 175))
        status, out = run(
            report(result("arbitrary-send-eth", "High", moved, node("to.call{value: x}()", moved))),
            ACCEPT_SETTLE,
        )
        self.assertEqual(status, 0, out)
        self.assertIn("1 triaged, 0 new High/Medium", out)

    def test_entry_covers_only_its_detector_and_location(self):
        # Same function, other detector; same detector, other function: both new.
        status, out = run(
            report(
                result("reentrancy-eth", "High", function("settle")),
                result("arbitrary-send-eth", "High", function("reclaim")),
            ),
            ACCEPT_SETTLE,
        )
        self.assertEqual(status, 1)
        self.assertIn("reentrancy-eth at Market.settle", out)
        self.assertIn("arbitrary-send-eth at Market.reclaim", out)

    def test_new_low_and_informational_findings_are_listed_without_failing(self):
        status, out = run(
            report(
                result("timestamp", "Low", function("reclaim")),
                result("assembly", "Informational", function("_storage")),
            ),
            "",
        )
        self.assertEqual(status, 0)
        self.assertIn("new (listed) Low timestamp at Market.reclaim", out)
        self.assertIn("new (listed) Informational assembly at Market._storage", out)

    def test_findings_outside_contracts_are_ignored(self):
        dependency = function("log2", "Math", "node_modules/@openzeppelin/contracts/utils/math/Math.sol")
        test_helper = function("attack", "Hostile", "test/utils/HostileContracts.sol")
        status, out = run(
            report(
                result("incorrect-exp", "High", dependency), result("arbitrary-send-eth", "High", test_helper)
            ),
            "",
        )
        self.assertEqual(status, 0)
        self.assertIn("slither: 0 finding(s)", out)

    def test_stale_entry_is_reported_without_failing(self):
        status, out = run(report(), ACCEPT_SETTLE)
        self.assertEqual(status, 0)
        self.assertIn(
            "stale triage entry (nothing matches it, remove it): arbitrary-send-eth Market.settle", out
        )

    def test_failed_slither_run_is_an_error(self):
        with self.assertRaises(triage.TriageError):
            triage.findings_from_report({"success": False, "error": "compilation failed", "results": {}})


class TriageFileTest(unittest.TestCase):
    def test_entry_needs_a_reason(self):
        with self.assertRaisesRegex(triage.TriageError, "needs exactly"):
            triage.load_entries('[[accepted]]\ndetector = "timestamp"\nlocation = "Market.settle"\n')
        with self.assertRaisesRegex(triage.TriageError, "non-empty"):
            triage.load_entries(
                '[[accepted]]\ndetector = "timestamp"\nlocation = "Market.settle"\nreason = " "\n'
            )

    def test_reason_is_one_line(self):
        with self.assertRaisesRegex(triage.TriageError, "one line"):
            triage.load_entries('[[accepted]]\ndetector = "t"\nlocation = "M.f"\nreason = """a\nb"""\n')

    def test_duplicates_and_unknown_keys_are_refused(self):
        with self.assertRaisesRegex(triage.TriageError, "listed twice"):
            triage.load_entries(ACCEPT_SETTLE + ACCEPT_SETTLE)
        with self.assertRaisesRegex(triage.TriageError, "needs exactly"):
            triage.load_entries(ACCEPT_SETTLE.replace("reason", 'line = "12"\nreason'))
        with self.assertRaisesRegex(triage.TriageError, "unknown top-level"):
            triage.load_entries('[ignored]\ndetector = "timestamp"\n')


if __name__ == "__main__":
    unittest.main()
