"""Accept recordings: probe, validate, dedupe, store, register, enqueue."""

from ingest.probe import AudioRejected, ProbeResult, probe
from ingest.service import IngestResult, IngestSummary, expand_paths, ingest_paths, register_file

__all__ = ["AudioRejected", "IngestResult", "IngestSummary", "ProbeResult", "expand_paths",
           "ingest_paths", "probe", "register_file"]
