"""What the ids in responses mean: intents and compliance rules, with titles in English and
Chinese, so a CRM can show them without a copy of the configuration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import SettingsDep, require
from api.errors import responses
from api.keys import Principal

router = APIRouter(tags=["rules"])


class Titles(BaseModel):
    en: str
    zh: str


class IntentEntry(BaseModel):
    id: str
    title: Titles


class RuleEntry(BaseModel):
    id: str
    title: Titles
    severity: str = Field(description="low, medium, high or critical")
    type: str
    version: int


class Catalogue(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "rules_version": "3c9a0f12ab34",
        "intents": [{"id": "repayment_amount", "title": {
            "en": "Balance, amount due, due date", "zh": "查询账单/还款金额/还款日"}}],
        "rules": [{"id": "threat_or_abuse", "title": {"en": "Threat or abuse",
                                                      "zh": "威胁或辱骂客户"},
                   "severity": "critical", "type": "must_not_say", "version": 1}]}]}}
    rules_version: str
    intents: list[IntentEntry]
    rules: list[RuleEntry] = Field(description="The rules that raise flags (markers, which "
                                   "only anchor other rules, are left out).")


def _titles(title: str | dict[str, str]) -> Titles:
    from analysis.rules import localized

    return Titles(en=localized(title, "en"), zh=localized(title, "zh"))


@router.get("/catalogue", response_model=Catalogue, summary="Intent and rule catalogue",
            description="Every intent id and every flag-raising rule id of the active "
                        "configuration, with English and Chinese titles, severity and version. "
                        "Readable by every role (crm included).", responses=responses())
def catalogue(settings: SettingsDep,
              _who: Annotated[Principal, Depends(require("qa", "manager", "crm"))]) -> Catalogue:
    from analysis.intents import DEFAULT_INTENTS, CueIntentClassifier
    from analysis.tasks import active_rules

    cues = CueIntentClassifier(settings.intents_path or DEFAULT_INTENTS)
    ruleset = active_rules()
    return Catalogue(
        rules_version=ruleset.version,
        intents=[IntentEntry(id=k, title=_titles(v)) for k, v in cues.titles.items()],
        rules=[RuleEntry(id=r.id, title=_titles(r.title), severity=r.severity, type=r.type,
                         version=r.version) for r in ruleset.rules if r.type != "marker"])
