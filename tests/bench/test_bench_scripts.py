"""The scripts behind README's figures run as documented and write the keys they promise.

Small slices and the tiny model: these check that the scripts work, not the figures
(benchmarks are not timed tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / f"{script}.json"
    env = {**os.environ, "CALLQA_DATA_DIR": str(tmp_path / "data")}
    env.pop("PYTHONPATH", None)  # as a user runs it: `python bench/x.py` from anywhere
    result = subprocess.run([sys.executable, str(ROOT / "bench" / f"{script}.py"), *args,
                             "--json", str(out)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_analysis_bench(tmp_path: Path) -> None:
    # Two calls a language through --data: tests/analysis grades every sample call already.
    import shutil

    data = tmp_path / "dialogues"
    data.mkdir()
    for language in ("en", "zh"):
        for path in sorted((ROOT / "samples" / "dialogues" / language).glob("*.yaml"))[:2]:
            shutil.copy(path, data)
    figures = _run("analysis", "--repeat", "1", "--data", str(data), tmp_path=tmp_path)
    for key in ("rule_precision_min", "rule_recall_min", "intent_macro_f1_en",
                "intent_macro_f1_zh", "sentiment_acc", "calls_per_s", "calls_per_s_uncached"):
        assert isinstance(figures[key], float), key
    assert figures["calls"] == 4


@pytest.mark.slow
def test_asr_and_diarization_benches(rendered_dir: Path, tmp_path: Path) -> None:
    # The session's rendered calls (the benches only read them); the asr bench on the
    # stereo file only: the diarization bench below runs the mono path.
    samples = rendered_dir
    asr = _run("asr", "--model", "tiny.en", "--limit", "1", "--kind", "stereo", "--samples",
               str(samples), tmp_path=tmp_path)
    for key in ("wer", "wer_bare", "rtf", "rtf_bare", "rtf_asr"):
        assert isinstance(asr[key], float), key
    assert 0 <= asr["wer"] < 0.2 and asr["calls"] == 1  # type: ignore[operator]
    assert asr["seed"] == 0  # the sampler's seed, recorded
    dia = _run("diarization", "--model", "tiny.en", "--limit", "1", "--samples", str(samples),
               tmp_path=tmp_path)
    for key in ("der_stereo", "der_mono", "role_acc_stereo", "role_acc_mono"):
        assert isinstance(dia[key], float), key
    assert dia["der_stereo"] < 0.05 and dia["role_acc_stereo"] > 0.95  # type: ignore[operator]


def test_search_bench(tmp_path: Path) -> None:
    figures = _run("search", "--calls", "600", "--queries", "20", "--dialogues", "4", "--dir",
                   str(tmp_path / "index"), tmp_path=tmp_path)
    assert figures["calls"] == 600 and figures["backend"] == "embedded"
    for key in ("index_calls_per_s", "search_p50_ms", "search_p95_ms", "search_p99_ms",
                "agg_p95_ms", "customer_p95_ms", "page50_cursor_mean_ms"):
        assert isinstance(figures[key], float) and figures[key] > 0, key  # type: ignore[operator]
    assert figures["search_p50_ms"] <= figures["search_p95_ms"] <= figures["search_p99_ms"]  # type: ignore[operator]


@pytest.mark.slow
def test_pipeline_bench(rendered_dir: Path, tmp_path: Path) -> None:
    """One call through a private redis-server and real worker processes."""
    figures = _run("pipeline", "--calls", "1", "--model", "tiny.en", "--samples",
                   str(rendered_dir), tmp_path=tmp_path)
    for key in ("audio_hours_per_hour", "calls_per_min", "wall_s"):
        assert isinstance(figures[key], float) and figures[key] > 0, key  # type: ignore[operator]
    assert figures["calls"] == 1 and figures["indexed"] == 1
    assert set(figures["stage_seconds"]) == {"transcribe", "analyze", "index"}  # type: ignore[arg-type]


def test_fit_rule_thresholds_writes_fitted_values(tmp_path: Path) -> None:
    import shutil

    folders = []
    for part, name in (("dev", "ev-en-d02-collector-workplace-hint"),
                       ("dev2", "ev-zh-e01-hr-phone-hint")):  # several --data folders, fitted together
        data = tmp_path / part
        data.mkdir()
        lang = name[3:5]
        shutil.copy(ROOT / "bench" / "eval" / "rules" / part / lang / f"{name}.yaml", data)
        folders += ["--data", str(data)]
    rules = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "analysis" / "config" / "rules" / "default.yaml", rules)
    figures = _run("fit_rule_thresholds", *folders, "--rules", str(rules), "--write",
                   tmp_path=tmp_path)
    assert figures["calls"] == 2
    assert figures["errors_after"] <= figures["errors_before"]  # type: ignore[operator]
    assert "threshold_threat_or_abuse" in figures and figures["written"] == str(rules)
    from analysis.rules import load_rules

    rewritten = load_rules(rules).by_id("threat_or_abuse")  # still a valid pack
    assert rewritten is not None and isinstance(rewritten.threshold, dict)
