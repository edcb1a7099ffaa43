from pathlib import Path

import pytest

from core.settings import Settings


def test_defaults_are_single_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("CALLQA_DATA_DIR", "CALLQA_DATABASE_URL", "CALLQA_BROKER_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == (tmp_path / "data").resolve()
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'data' / 'callqa.db'}"
    assert s.broker_url is None and s.elasticsearch_url is None
    assert s.objects_dir.parent == s.index_dir.parent == s.model_dir.parent == s.data_dir


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CALLQA_MAX_DURATION_S=60\nCALLQA_STEREO_CHANNEL_MAP=customer,agent\n")
    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "elsewhere"))
    s = Settings()
    assert s.data_dir == tmp_path / "elsewhere"
    assert s.max_duration_s == 60
    assert s.default_channel_map == ["customer", "agent"]


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_ASR_ENGINE", "nonsense")
    with pytest.raises(ValueError, match="asr_engine"):
        Settings()
