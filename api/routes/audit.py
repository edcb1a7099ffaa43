"""The audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import DB, require
from api.errors import responses
from api.keys import Principal
from api.models import AuditList, AuditOut
from api.services import records

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditList, summary="Who viewed, played, exported or "
            "changed what, and when",
            description="Newest first. Actions: view, play, search, export, insight, upload, "
            "reprocess, change_roles, delete, review, rules_upload, webhook_test, key_create, "
            "key_revoke, sign_in, sign_out. resource is e.g. call:<id>, customer:<id>, rules, "
            "search, session.",
            responses=responses())
def audit_log(db: DB, _who: Annotated[Principal, Depends(require())],
              actor: Annotated[str | None, Query(max_length=128)] = None,
              action: Annotated[str | None, Query(max_length=32)] = None,
              resource: Annotated[str | None, Query(max_length=256)] = None,
              since: Annotated[datetime | None, Query()] = None,
              until: Annotated[datetime | None, Query()] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> AuditList:
    page = records.audit_entries(db, actor, action, resource, since, until, limit, offset)
    return AuditList(items=[AuditOut.model_validate(r, from_attributes=True) for r in page.items],
                     total=page.total, limit=limit, offset=offset)
