"""One settings object for every process, read from CALLQA_* variables and .env.

With nothing set, everything runs in one process on one machine: SQLite and
objects under CALLQA_DATA_DIR, the embedded search index, tasks in-process.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLQA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Everything one machine stores.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    broker_url: str | None = Field(None, description="Celery broker; unset = run tasks in-process.")
    result_backend: str | None = None
    # Crash safety and retries (docs/deploy.md explains the choices and their measurements).
    broker_visibility_timeout_s: float = Field(
        300.0, description="Redis: an unacked message is handed out again after this long; "
        "keep it above retry_backoff_max_s (a retry waits unacked on a worker).")
    broker_restore_interval_s: float = Field(
        2.0, description="Redis: how often an idle worker sweeps for unacked messages past the "
        "visibility timeout.")
    stage_lease_s: float = Field(
        10.0, description="A running stage whose worker has not renewed its lease for this long "
        "belongs to a dead worker and is queued again.")
    reap_interval_s: float = Field(
        2.0, description="How often each worker looks for stages of dead workers; 0 = never.")
    api_header_timeout_s: float = Field(
        10.0, description="`callqa serve`: a request's headers must arrive within this.")
    api_body_idle_timeout_s: float = Field(
        30.0, description="A request body that stalls this long between chunks gets 408.")
    sqlite_busy_timeout_s: float = Field(
        30.0, description="SQLite: how long a write waits for another process's write lock "
        "before giving up (the API then answers 503 with Retry-After).")
    stage_queue_deadline_s: float = Field(
        900.0, description="A stage queued (or retrying) this long without a worker claiming it "
        "is published again by the reaper: its message was lost (Redis restarted empty, a "
        "worker died holding it). Keep it above retry_backoff_max_s.")
    task_max_retries: int = Field(5, description="Retries of a transient error per stage.")
    retry_backoff_s: float = Field(2.0, description="First retry delay; doubles per retry.")
    retry_backoff_max_s: float = Field(120.0, description="Longest retry delay.")
    transcribe_batch_calls: int = Field(
        4, description="Calls per transcription task when a batch is queued: the GPU worker "
        "decodes their speech segments together. 1 = one task per call.")
    elasticsearch_url: str | None = Field(None, description="Unset = embedded search index.")
    elasticsearch_index: str = Field(
        "callqa-calls", description="Alias the API searches; versioned indices sit behind it.")
    elasticsearch_api_key: str | None = Field(None, description="Elasticsearch API key, if any.")
    elasticsearch_ca_certs: str | None = Field(None, description="CA bundle for https clusters.")
    elasticsearch_timeout_s: float = 30.0
    elasticsearch_shards: int = 1
    elasticsearch_replicas: int = Field(1, description="0 on a single-node cluster.")
    models_dir: Path | None = Field(None, description="Assembled model weights; default data_dir/models.")

    # ASR
    asr_engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    asr_model: str = Field("base", description="Local model directory, or a packaged model name.")
    asr_device: Literal["auto", "cpu", "cuda"] = "auto"
    asr_compute_type: str = Field(
        "auto", description="auto = float16 on GPU; on CPU int8 (faster-whisper) or float32 "
        "(openai-whisper).")
    asr_batch_size: int = Field(
        -1, description="faster-whisper batched decoding of speech segments: -1 = 16 on GPU, "
        "off on CPU; 0 = off.")
    asr_cpu_threads: int = 0
    transcribe_params: Path | None = Field(
        None, description="Transcription hyper-parameters merged over "
        "transcribe/config/default.yaml.")
    roles_path: Path | None = Field(
        None, description="Role cues (who is the agent) merged over transcribe/config/roles.yaml.")
    language: str | None = Field(None, description="Default language hint (en, zh) when a call has none.")

    # Ingest
    max_duration_s: float = 4 * 3600.0
    min_duration_s: float = 1.0
    max_upload_bytes: int = 512 * 1024 * 1024
    silence_dbfs: float = Field(-55.0, description=(
        "A file whose loudest 100 ms is below this, and under 15 dB above its floor, "
        "has no detectable speech."))
    stereo_channel_map: str = Field(
        "agent,customer",
        description="Roles of channels 0,1 when a stereo call's metadata has none; 'auto' = "
        "decide from what each channel says.")
    pyannote_pipeline: Path | None = Field(
        None, description="A local pyannote.audio pipeline (config.yaml) for mono calls.")
    filename_pattern: str | None = Field(
        None,
        description="Regex with named groups (call_id, agent_id, team, customer_id, started_at, "
        "direction, language) applied to file stems when no sidecar exists.",
    )

    # Analysis
    rules_path: Path | None = Field(None, description="Rule file or folder; default packaged pack.")
    intents_path: Path | None = Field(None, description="Intent taxonomy YAML; default packaged.")
    rule_training: str | None = Field(
        None, description="Labelled utterances the rule classifiers learn from (a YAML file, "
        "or 'none'); default: the packaged file, for the packaged pack only.")
    forms_path: Path | None = Field(
        None, description="Evaluation form file or folder (QA scorecards); default packaged.")
    intent_model: Path | None = Field(
        None, description="Local fine-tuned intent model directory (callqa train intent); "
        "unset = the offline cue-phrase classifier.")
    sentiment_model: Path | None = Field(
        None, description="Local fine-tuned sentiment model directory (callqa train "
        "sentiment); unset = the offline lexicon.")
    sentiment_path: Path | None = Field(
        None, description="Sentiment models, calibration and word lists merged over "
        "analysis/config/sentiment.yaml.")
    metrics_path: Path | None = Field(
        None, description="Conversation-metric thresholds merged over "
        "analysis/config/metrics.yaml.")
    cache_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "callqa",
        description="Built once, shared by every data directory (the Chinese sentiment head); "
        "default $XDG_CACHE_HOME/callqa or ~/.cache/callqa.")
    public_data: Path | None = Field(
        None, description="Public labelled data for callqa eval and bench/public_sets.py; "
        "default ../shared/data beside the checkout.")

    index_pii: bool = Field(False, description="Index unredacted text (default: PII masked).")
    timezone: str = Field("UTC", description="IANA zone of the call centre: trends by its days.")

    # REST API (api/) and webhooks (core/webhooks.py)
    api_host: str = Field("127.0.0.1", description="callqa serve: address to listen on.")
    api_prepared: bool = Field(False, description="Set by callqa serve for its uvicorn "
                               "workers: the start-up (migrations, bootstrap key) has run.")
    api_port: int = Field(8000, description="callqa serve: port.")
    api_bootstrap_key: str | None = Field(
        None, description="An admin API key accepted at startup (stored hashed as 'bootstrap'); "
        "for a first deployment before `callqa keys create`.")
    webhook_urls: str | None = Field(
        None, description="Comma-separated URLs that receive call.completed and flag.critical.")
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for webhook signatures.")
    webhook_max_attempts: int = Field(6, description="Deliveries tried this often, then failed.")
    webhook_backoff_s: float = Field(2.0, description="First retry delay; doubles each retry.")
    webhook_timeout_s: float = Field(10.0, description="Per-attempt HTTP timeout.")

    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("stereo_channel_map")
    @classmethod
    def _channel_map(cls, value: str) -> str:
        roles = [r.strip() for r in value.split(",")]
        if value.strip().lower() != "auto" and sorted(roles) != ["agent", "customer"]:
            raise ValueError("stereo_channel_map is 'auto' or a permutation of 'agent,customer'")
        return value

    @field_validator("data_dir", "models_dir", "cache_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'callqa.db'}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def model_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def webhook_url_list(self) -> list[str]:
        return [u.strip() for u in (self.webhook_urls or "").split(",") if u.strip()]

    @property
    def uploaded_rules_dir(self) -> Path:
        """Rule files uploaded through the API (PUT /rules) live here."""
        return self.data_dir / "rules"

    @property
    def active_rules_path(self) -> Path | None:
        """CALLQA_RULES_PATH if set, else an uploaded rule file, else None (packaged pack)."""
        uploaded = self.uploaded_rules_dir / "active.yaml"
        return self.rules_path or (uploaded if uploaded.is_file() else None)

    @property
    def default_channel_map(self) -> list[str] | None:
        if self.stereo_channel_map.strip().lower() == "auto":
            return None
        return [role.strip() for role in self.stereo_channel_map.split(",") if role.strip()]


def keep_model_hubs_offline() -> None:
    """Nothing is ever fetched from a model hub: huggingface_hub and transformers read
    these variables themselves, so they are set (unless the deployment set them)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
