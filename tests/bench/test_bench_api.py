"""bench/api.py runs as documented and writes the keys it promises (small sizes: this
checks the script, not the figures)."""

from __future__ import annotations

from pathlib import Path

from tests.bench.test_bench_scripts import _run


def test_api_bench(tmp_path: Path) -> None:
    figures = _run("api", "--clients", "1,2", "--uploads", "4", "--searches", "12",
                   "--docs", "6", "--seconds", "2", tmp_path=tmp_path)
    for key in ("upload_per_s", "upload_per_s_c1", "upload_per_s_c2", "search_p95_ms_c1",
                "search_p95_ms_c2", "search_p50_ms_c2"):
        assert isinstance(figures[key], float) and figures[key] > 0, key  # type: ignore[operator]
    assert figures["upload_errors_c2"] == 0 and figures["search_errors_c2"] == 0
    assert figures["clients"] == [1, 2]
