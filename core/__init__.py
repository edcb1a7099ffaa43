"""Shared foundation: settings, domain schemas, database, object store, Celery app."""
