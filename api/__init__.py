"""User-facing interfaces over the stage packages: the `callqa` command line (cli*.py),
the REST API (app.py, routes/) and the web UI it serves (webui.py, ui/)."""
