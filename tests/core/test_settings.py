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


def test_parameter_files_and_cache_from_the_environment(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for var in ("CALLQA_CACHE_DIR", "CALLQA_SENTIMENT_PATH", "CALLQA_ROLES_PATH"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.cache_dir == (tmp_path / "xdg" / "callqa").resolve()
    assert s.sentiment_path is None and s.roles_path is None and s.transcribe_params is None
    monkeypatch.setenv("CALLQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CALLQA_SENTIMENT_PATH", str(tmp_path / "sentiment.yaml"))
    monkeypatch.setenv("CALLQA_ROLES_PATH", str(tmp_path / "roles.yaml"))
    monkeypatch.setenv("CALLQA_TRANSCRIBE_PARAMS", str(tmp_path / "params.yaml"))
    s = Settings()
    assert s.cache_dir == (tmp_path / "cache").resolve()
    assert s.sentiment_path == tmp_path / "sentiment.yaml"
    assert s.roles_path == tmp_path / "roles.yaml"
    assert s.transcribe_params == tmp_path / "params.yaml"
