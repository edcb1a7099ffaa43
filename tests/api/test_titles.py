"""Readable titles outside the web UI: the CSV export's title columns (en and zh) and the
CLI's tables, from the same rules.yaml / intents.yaml as GET /catalogue."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from api.cli import app as cli
from tests.api.conftest import World


def _catalogue(world: World) -> tuple[dict, dict]:
    data = world.client.get("/catalogue", headers=world.as_("qa")).json()
    return ({i["id"]: i["title"] for i in data["intents"]},
            {r["id"]: r["title"] for r in data["rules"]})


def test_csv_export_has_titles_in_the_language_asked(world: World) -> None:
    intents, rules = _catalogue(world)
    for lang in ("en", "zh"):
        response = world.client.get("/search/export", params={"min_severity": "low", "lang": lang},
                                    headers=world.as_("qa"))
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows
        for row in rows:
            if row["primary_intent"]:
                assert row["intent_title"] == intents[row["primary_intent"]][lang]
            ids = row["rule_ids"].split(";")
            assert row["rule_titles"].split(";") == [rules[r][lang] for r in ids]
    bad = world.client.get("/search/export", params={"lang": "fr"}, headers=world.as_("qa"))
    assert bad.status_code == 422


def test_cli_search_shows_titles_with_ids(world: World) -> None:
    _, rules = _catalogue(world)
    result = CliRunner().invoke(cli, ["search", "--severity", "low"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{rules['threat_or_abuse']['en']} (threat_or_abuse)" in result.output
