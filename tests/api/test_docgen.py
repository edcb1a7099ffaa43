"""docs/api.md's endpoint reference is the schema's: regenerate with `python -m api.docgen`."""

from __future__ import annotations

from api.docgen import DOC, current_spec, render


def test_endpoint_reference_is_up_to_date() -> None:
    text = DOC.read_text("utf-8")
    assert render(current_spec(), text) == text, \
        "docs/api.md is out of date: run `python -m api.docgen`"
