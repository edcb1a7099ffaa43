"""Finding 2 (High): a rule regex froze the API (ReDoS); finding 8 (part): YAML nested
20,000 deep gave a 500."""

from __future__ import annotations

import threading
import time

from tests.security.conftest import World

EVIL = r"(\w+\s?)+;"  # catastrophic backtracking in Python's re on any long run of words


def _rule(regex: str, rule_id: str = "redos_probe") -> str:
    return (f"version: 1\nrules:\n  - id: {rule_id}\n    title: probe\n    type: must_not_say\n"
            f"    who: any\n    regex:\n      en: ['{regex}']\n")


def test_a_backtracking_regex_runs_in_linear_time(world: World) -> None:
    answers: dict[str, object] = {}

    def dry_run() -> None:
        answers["dry"] = world.client.post("/rules/dry-run", headers=world.as_("qa"),
                                           json={"yaml": _rule(EVIL)})

    worker = threading.Thread(target=dry_run, daemon=True)
    started = time.perf_counter()
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the dry-run hangs on a backtracking regex"
    assert time.perf_counter() - started < 20
    assert answers["dry"].status_code == 200  # type: ignore[attr-defined]
    assert world.client.get("/healthz").status_code == 200
    checked = world.client.post("/rules/validate", headers=world.as_("qa"),
                                json={"yaml": _rule(EVIL)})
    assert checked.status_code == 200


def test_a_regex_linear_time_cannot_run_is_a_422_naming_the_rule(world: World) -> None:
    for regex in (r"(?<=pay)ment", r"(a)\1", "x{100000}"):
        for path in ("/rules/validate", "/rules/dry-run"):
            r = world.client.post(path, headers=world.as_("qa"),
                                  json={"yaml": _rule(regex, "lookaround_probe")})
            assert r.status_code == 422, (regex, r.text)
            assert "lookaround_probe" in r.json()["error"]["message"]


def test_yaml_nested_20000_deep_is_a_422(world: World) -> None:
    for text in ("rules: " + "[" * 20000 + "]" * 20000,
                 "rules:\n" + "".join("  " * i + "- \n" for i in range(300)),
                 "rules: " + "{a: " * 5000 + "1" + "}" * 5000):
        for path in ("/rules/validate", "/rules/dry-run"):
            r = world.client.post(path, headers=world.as_("qa"), json={"yaml": text})
            assert r.status_code == 422, r.text[:300]
            assert "nested deeper" in r.json()["error"]["message"]
