"""Webhooks: configuration, delivery log, test ping, retry (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from api import audit
from api.deps import DB, SettingsDep, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import DeliveryList, DeliveryOut, WebhookConfig, WebhookTestResult
from api.services import records
from core import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("", response_model=WebhookConfig, summary="Webhook configuration",
            description="Where call.completed and flag.critical go (CALLQA_WEBHOOK_URLS), "
            "whether they are signed (the secret itself is never shown) and the retry policy.",
            responses=responses())
def config(settings: SettingsDep, _who: Annotated[Principal, Depends(require())]) -> WebhookConfig:
    return WebhookConfig(urls=settings.webhook_url_list, events=["call.completed", "flag.critical"],
                         signed=bool(settings.webhook_secret),
                         max_attempts=settings.webhook_max_attempts,
                         backoff_s=settings.webhook_backoff_s)


@router.get("/deliveries", response_model=DeliveryList, summary="Delivery log",
            description="One row per event and URL: status (pending, delivered, failed), "
            "attempts, the last response code or error. Newest first.", responses=responses())
def deliveries(db: DB, _who: Annotated[Principal, Depends(require())],
               event: Annotated[Literal["call.completed", "flag.critical", "ping"] | None,
                                Query()] = None,
               status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> DeliveryList:
    page = records.webhook_deliveries(db, event, status, limit, offset)
    return DeliveryList(items=[DeliveryOut.model_validate(r, from_attributes=True)
                               for r in page.items], total=page.total, limit=limit, offset=offset)


@router.post("/test", status_code=202, response_model=WebhookTestResult,
             summary="Send a signed ping to every URL",
             description="Queues a `ping` event to each configured URL (409 if none).",
             responses=responses(409))
def test(db: DB, settings: SettingsDep,
         who: Annotated[Principal, Depends(require())]) -> WebhookTestResult:
    urls = settings.webhook_url_list
    if not urls:
        raise ApiError(409, "conflict", "no webhook URLs configured (CALLQA_WEBHOOK_URLS)")
    audit.record(db, who, "webhook_test", "webhooks", {"urls": len(urls)})
    ids = webhooks.queue([webhooks.envelope("ping", {"message": "callqa webhook test"})], urls)
    return WebhookTestResult(deliveries=ids, message=f"ping queued to {len(urls)} URL(s)")


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut,
             summary="Retry a failed delivery", description="Back to pending, attempts from 0.",
             responses=responses(404, 409))
def retry(delivery_id: Annotated[int, Path(ge=1, le=2**62)], db: DB,
          who: Annotated[Principal, Depends(require())]) -> DeliveryOut:
    try:
        row = records.reset_delivery(db, delivery_id)
    except records.NotRetryable as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    except LookupError as exc:
        raise not_found(str(exc)) from None
    audit.record(db, who, "webhook_test", f"delivery:{delivery_id}", {"retry": True})
    db.commit()
    webhooks.dispatch(delivery_id)
    return DeliveryOut.model_validate(row, from_attributes=True)
