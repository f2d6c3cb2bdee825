"""The one place that shows where each abuse of issue 9 is tested.

Each entry names test functions; this test fails when one of them is renamed or removed,
so the map cannot silently go stale. docs/reliability-input.md has the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COVERAGE: dict[str, list[str]] = {
    "forged Telegram callbacks": [
        "tests/unit/notifier/test_bot.py::test_forged_replayed_and_foreign_buttons_are_refused_and_answered",
    ],
    "replayed link tokens": [
        "tests/unit/notifier/test_bot.py::test_a_link_token_works_once",
        "tests/unit/notifier/test_bot.py::test_contact_links_only_the_senders_own_registered_phone",
    ],
    "object-level authorisation on every portal route": [
        "tests/reliability/test_portal_abuse.py::test_every_route_is_classified",
        "tests/reliability/test_portal_abuse.py::test_every_route_with_another_taxpayers_ids",
        "tests/unit/portal_web/test_security.py::test_a_taxpayer_reaches_none_of_another_taxpayers_objects",
        "tests/unit/portal_web/test_security.py::test_a_staff_page_as_a_taxpayer_is_403_and_the_cabinet_as_staff_too",
    ],
    "CSRF": [
        "tests/unit/portal_web/test_security.py::test_a_form_without_its_csrf_token_is_403",
    ],
    "session fixation": [
        "tests/reliability/test_portal_abuse.py::test_a_planted_session_id_does_not_survive_sign_in",
        "tests/unit/portal_web/test_security.py::test_sign_in_rotates_the_session_and_sets_safe_cookies",
    ],
    "sign-in code brute force": [
        "tests/unit/portal_web/test_security.py::test_guessing_codes_is_throttled",
        "tests/unit/portal_web/test_security.py::test_staff_passwords_and_throttle",
    ],
    "SQL injection and hostile values in every input": [
        "tests/reliability/test_portal_abuse.py::test_injection_probes_in_every_taxpayer_input",
        "tests/reliability/test_portal_abuse.py::test_injection_probes_in_every_staff_input",
        "tests/reliability/test_portal_abuse.py::test_injection_probes_in_every_json_field_of_the_ingest_api",
        "tests/reliability/test_ingest_api_schemathesis.py::test_every_generated_request_gets_a_documented_answer",
    ],
    "open redirects": [
        "tests/unit/portal_web/test_security.py::test_no_open_redirects",
    ],
    "no PINFLs, phones or names in logs": [
        "tests/reliability/test_logs_carry_no_pii.py::test_portal_and_ingest_flows_log_no_pii",
        "tests/reliability/test_hostile_broker.py::test_hostile_events_all_land_in_dead_letters_and_the_worker_goes_on",
    ],
    "hostile registry events": [
        "tests/reliability/test_hostile_events.py::test_every_hostile_event_gets_its_reason_and_field",
        "tests/reliability/test_hostile_broker.py::test_hostile_events_all_land_in_dead_letters_and_the_worker_goes_on",
    ],
}


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_abuse_has_tests_that_exist() -> None:
    missing = []
    for abuse, tests in COVERAGE.items():
        assert tests, abuse
        for ref in tests:
            file, name = ref.split("::")
            if name not in _functions(REPO / file):
                missing.append(f"{abuse}: {ref}")
    assert missing == [], missing


def test_the_doc_shows_the_same_map() -> None:
    doc = (REPO / "docs" / "reliability-input.md").read_text(encoding="utf-8")
    for abuse, tests in COVERAGE.items():
        assert abuse in doc, abuse
        for ref in tests:
            assert ref.split("::")[1] in doc, ref
