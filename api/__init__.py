"""User-facing interfaces: the `callqa` command line (and, later, the REST API and web UI)."""
