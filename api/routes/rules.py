"""Rules: list, get, validate, upload (admin), dry-run over stored calls."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends

from analysis.dry_run import dry_run as run_dry
from analysis.dry_run import load_stored, stored_calls
from analysis.rules import Rule, RuleError, RuleSet, load_rules, rules_summary
from analysis.tasks import active_rules
from api import audit
from api.deps import DB, SettingsDep, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import (
    DryRunExample,
    DryRunRequest,
    DryRunResult,
    DryRunRule,
    RuleFile,
    RuleList,
    RuleSummary,
    RuleValidation,
    utc,
)
from core.db import utcnow
from core.settings import Settings
from core.storage import ObjectStore, atomic_write

router = APIRouter(prefix="/rules", tags=["rules"])
READ = ("qa",)


def _source(settings: Settings) -> str:
    if settings.rules_path:
        return str(settings.rules_path)
    return "uploaded" if settings.active_rules_path else "packaged"


def parse_rule_file(text: str) -> RuleSet:
    """Validate a rule file as `load_rules` does (ids, references); 422 naming the line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(text, "utf-8")
        try:
            ruleset = load_rules(path)
        except RuleError as exc:
            message = str(exc).replace(str(path), "rules.yaml")
            raise ApiError(422, "invalid_rules", message) from exc
        except (ValueError, TypeError) as exc:
            raise ApiError(422, "invalid_rules", f"rules.yaml: {exc}") from exc
    if not ruleset.rules:
        raise ApiError(422, "invalid_rules", "rules.yaml: the file defines no rules")
    return ruleset


def _summaries(ruleset: RuleSet) -> list[RuleSummary]:
    return [RuleSummary.model_validate(r) for r in rules_summary(ruleset)]


@router.get("", response_model=RuleList, summary="The active rules",
            description="Rules the analysis stage applies now, and where they come from.",
            responses=responses())
def list_rules(settings: SettingsDep,
               _who: Annotated[Principal, Depends(require(*READ))]) -> RuleList:
    ruleset = active_rules()
    return RuleList(version=ruleset.version, source=_source(settings), rules=_summaries(ruleset))


# The example is a real Rule dumped as the route dumps it: every field, defaults included.
RULE_EXAMPLE = Rule(id="threat_or_abuse", title={"en": "Threat or abuse", "zh": "威胁或辱骂"},
                    severity="critical", type="must_not_say",
                    phrases={"en": ["your family will know"], "zh": ["让你家里人都知道"]},
                    examples={"en": ["we know where you work"], "zh": ["我们知道你在哪上班"]},
                    counter_examples={"en": ["we will report it to the credit bureau as the "
                                             "agreement says"],
                                      "zh": ["逾期会按合同上报征信"]}
                    ).model_dump(mode="json")


@router.get("/{rule_id}", summary="One active rule in full", response_model=Rule,
            description="Every field of the rule as the rule file defines it (docs/rules.md).",
            responses={200: {"description": "The rule."}, **responses(404)})
def get_rule(rule_id: str, _who: Annotated[Principal, Depends(require(*READ))]) -> Rule:
    rule = active_rules().by_id(rule_id)
    if rule is None:
        raise not_found(f"rule {rule_id!r}")
    return rule


@router.post("/validate", response_model=RuleValidation, summary="Validate a rule file",
             description="Checks a rule file without changing anything; a 422 names the line.",
             responses=responses())
def validate_rules(body: RuleFile, _who: Annotated[Principal, Depends(require(*READ))]
                   ) -> RuleValidation:
    ruleset = parse_rule_file(body.yaml)
    return RuleValidation(valid=True, version=ruleset.version, rules=_summaries(ruleset))


@router.put("", response_model=RuleList, summary="Upload the rule file (admin)",
            description="Replaces the active rule set for calls analysed from now on (earlier "
            "calls keep their flags until reprocessed). The previous file is kept under "
            "rules/history/. Refused with 409 when CALLQA_RULES_PATH pins the rules. Audited.",
            responses=responses(409))
def upload_rules(body: RuleFile, db: DB, settings: SettingsDep,
                 who: Annotated[Principal, Depends(require())]) -> RuleList:
    if settings.rules_path:
        raise ApiError(409, "conflict", "CALLQA_RULES_PATH pins the rules on this deployment; "
                       "change that file instead")
    ruleset = parse_rule_file(body.yaml)
    folder = settings.uploaded_rules_dir
    active = folder / "active.yaml"
    if active.is_file():
        history = folder / "history"
        history.mkdir(parents=True, exist_ok=True)
        shutil.copy2(active, history / f"{utcnow():%Y%m%dT%H%M%S%fZ}.yaml")
    data = body.yaml.encode("utf-8")
    atomic_write(active, lambda fh: fh.write(data))
    audit.record(db, who, "rules_upload", "rules",
                 {"version": ruleset.version, "rules": [r.id for r in ruleset.rules]})
    return RuleList(version=ruleset.version, source="uploaded", rules=_summaries(ruleset))


@router.post("/dry-run", response_model=DryRunResult, summary="Dry-run rules over stored calls",
             description="What would these rules (default: the active ones) have flagged on the "
             "stored transcripts? Nothing is re-transcribed and nothing is changed.",
             responses=responses())
def dry_run(body: DryRunRequest, db: DB, settings: SettingsDep,
            who: Annotated[Principal, Depends(require(*READ))]) -> DryRunResult:
    ruleset = parse_rule_file(body.yaml) if body.yaml else active_rules()
    if body.date_from and body.date_to and utc(body.date_from) >= utc(body.date_to):
        raise ApiError(422, "validation_error", "date_from must be before date_to")
    stored = stored_calls(db, body.date_from, body.date_to, body.limit)
    outcomes = run_dry(ruleset, load_stored(ObjectStore(settings.objects_dir), stored))
    # It returns transcript quotes: audited like a view.
    audit.record(db, who, "dry_run", "rules", {
        "rules": [r.id for r in ruleset.rules][:200], "calls": len(stored),
        "custom": body.yaml is not None})
    return DryRunResult(calls=len(stored), rules=[
        DryRunRule(rule_id=o.rule_id, title=o.title, flagged=o.flagged,
                   newly_flagged=o.newly_flagged, no_longer_flagged=o.no_longer,
                   examples=[DryRunExample(call_id=c, start=f.evidence[0].start if f.evidence
                                           else None,
                                           quote=f.evidence[0].quote if f.evidence else "")
                             for c, f in o.examples])
        for o in outcomes.values()])
