import importlib

import pytest


@pytest.mark.parametrize("module", ["core.settings", "core.db", "core.storage", "core.pipeline",
                                    "ingest", "transcribe", "analysis", "search", "api.cli",
                                    "samples.render", "transcribe.tasks", "analysis.tasks",
                                    "search.tasks"])
def test_module_imports(module: str) -> None:
    assert importlib.import_module(module) is not None
