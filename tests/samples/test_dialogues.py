"""The bundled dialogues (ground truth for analysis and search) and their rendering."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.rules import load_rules
from samples import DIALOGUES_DIR
from samples.dialogue import (
    Dialogue,
    DialogueError,
    load_dialogue,
    load_dialogues,
    scripted_transcript,
)

FORMAT_MD = Path(DIALOGUES_DIR).parent / "FORMAT.md"
INTENTS_YAML = Path(__file__).parents[2] / "analysis" / "config" / "intents.yaml"


def format_section(title: str) -> str:
    text = FORMAT_MD.read_text("utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else None]


def documented_violations() -> list[str]:
    return re.findall(r"^- `([a-z_]+)`:", format_section("Violation"), re.MULTILINE)


def documented_intents() -> list[str]:
    return re.findall(r"(?:^|·)\s*([a-z_]+)(?= \(|\s*·|\s*$)", format_section("Intent ids"),
                      re.MULTILINE)


@pytest.fixture(scope="module")
def dialogues() -> list[Dialogue]:
    return load_dialogues()


# The bundled set ----------------------------------------------------------------------


def test_every_file_loads(dialogues: list[Dialogue]) -> None:
    files = sorted(DIALOGUES_DIR.rglob("*.yaml"))
    assert len(dialogues) == len(files)
    assert [d.id for d in dialogues] == [f.stem for f in files]
    assert len({d.id for d in dialogues}) == len(dialogues)
    for d, f in zip(dialogues, files, strict=True):
        # Files live under <lang>/ and the language field agrees.
        assert f.parent.name == d.language, f
        assert d.id.startswith(f"{d.language}-")


def test_enough_of_each_language(dialogues: list[Dialogue]) -> None:
    counts = Counter(d.language for d in dialogues)
    assert counts["en"] >= 20
    assert counts["zh"] >= 20
    assert len(load_dialogues(language="en")) == counts["en"]
    assert len(load_dialogues(language="zh")) == counts["zh"]


def test_format_md_lists_what_the_code_knows() -> None:
    violations = documented_violations()
    assert len(violations) >= 8
    flag_rules = {r.id for r in load_rules().rules if r.type != "marker"}
    assert set(violations) == flag_rules
    intents = yaml.safe_load(INTENTS_YAML.read_text("utf-8"))["intents"]
    assert set(documented_intents()) == set(intents)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_violation_occurs_in_two_dialogues(dialogues: list[Dialogue], language: str) -> None:
    counts = Counter(v for d in dialogues if d.language == language
                     for v in d.expected.violations)
    missing = {v: counts[v] for v in documented_violations() if counts[v] < 2}
    assert not missing, f"{language}: violations in fewer than 2 dialogues: {missing}"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_some_dialogues_are_clean(dialogues: list[Dialogue], language: str) -> None:
    assert any(not d.expected.violations for d in dialogues if d.language == language)


def test_expected_ids_are_known(dialogues: list[Dialogue]) -> None:
    intents = set(yaml.safe_load(INTENTS_YAML.read_text("utf-8"))["intents"])
    violations = set(documented_violations())
    for d in dialogues:
        assert set(d.expected.intents) <= intents, d.id
        assert set(d.expected.violations) <= violations, d.id
        assert len(set(d.expected.violations)) == len(d.expected.violations), d.id


def test_every_intent_is_used(dialogues: list[Dialogue]) -> None:
    intents = yaml.safe_load(INTENTS_YAML.read_text("utf-8"))["intents"]
    used = {i for d in dialogues for i in d.expected.intents}
    assert set(intents) - used == set()


def test_dead_air_dialogues_have_long_pauses(dialogues: list[Dialogue]) -> None:
    """FORMAT.md: dead_air is produced by pause_before >= 10; shorter pauses do not flag."""
    for d in dialogues:
        long_pause = any(t.pause_before >= 10 for t in d.turns)
        assert long_pause == ("dead_air" in d.expected.violations), d.id


def test_scripted_transcript(dialogues: list[Dialogue]) -> None:
    for d in dialogues:
        t = scripted_transcript(d)
        assert t.call_id == d.id
        assert t.language == d.language
        assert [u.role for u in t.utterances] == [turn.speaker for turn in d.turns]
        assert all(u.end > u.start >= 0 for u in t.utterances)
        assert t.duration >= max(u.end for u in t.utterances)
        # Deterministic: the same dialogue gives the same timings.
        assert scripted_transcript(d) == t


def test_metadata(dialogues: list[Dialogue]) -> None:
    d = dialogues[0]
    meta = d.metadata(["agent", "customer"])
    assert meta["call_id"] == d.id
    assert meta["agent_id"] == d.agent.id
    assert meta["customer_id"] == d.customer.id
    assert meta["team"] == d.agent.team
    assert meta["channel_map"] == ["agent", "customer"]


# Malformed dialogues -----------------------------------------------------------------


@pytest.fixture
def valid_raw() -> dict:
    path = DIALOGUES_DIR / "en" / "en-09-wrong-number-clean.yaml"
    return yaml.safe_load(path.read_text("utf-8"))


def write(tmp_path: Path, stem: str, raw: object) -> Path:
    path = tmp_path / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


def test_copy_of_a_valid_dialogue_loads(tmp_path: Path, valid_raw: dict) -> None:
    path = write(tmp_path, valid_raw["id"], valid_raw)
    assert load_dialogue(path).id == valid_raw["id"]


def broken(raw: dict, case: str) -> tuple[dict | object, str]:
    """(the broken document, a word the error must mention)."""
    raw = json.loads(json.dumps(raw, default=str))
    if case == "missing_turns":
        del raw["turns"]
        return raw, "turns"
    if case == "one_turn":
        raw["turns"] = raw["turns"][:1]
        return raw, "turns"
    if case == "bad_speaker":
        raw["turns"][1]["speaker"] = "robot"
        return raw, "speaker"
    if case == "empty_text":
        raw["turns"][0]["text"] = ""
        return raw, "text"
    if case == "bad_language":
        raw["language"] = "fr"
        return raw, "language"
    if case == "bad_sentiment":
        raw["expected"]["customer_sentiment"] = "furious"
        return raw, "customer_sentiment"
    if case == "first_turn_overlap":
        raw["turns"][0]["overlap"] = 0.5
        return raw, "overlap"
    if case == "not_a_mapping":
        return raw["turns"], "mapping"
    raise AssertionError(case)


CASES = ["missing_turns", "one_turn", "bad_speaker", "empty_text", "bad_language",
         "bad_sentiment", "first_turn_overlap", "not_a_mapping"]


@pytest.mark.parametrize("case", CASES)
def test_malformed_dialogue(tmp_path: Path, valid_raw: dict, case: str) -> None:
    raw, word = broken(valid_raw, case)
    path = write(tmp_path, valid_raw["id"], raw)
    with pytest.raises(DialogueError) as info:
        load_dialogue(path)
    assert path.name in str(info.value)
    assert word in str(info.value)
    # load_dialogues over a folder stops on it too, naming the file.
    with pytest.raises(DialogueError, match=re.escape(path.name)):
        load_dialogues([tmp_path])


def test_id_must_equal_stem(tmp_path: Path, valid_raw: dict) -> None:
    path = write(tmp_path, "some-other-name", valid_raw)
    with pytest.raises(DialogueError) as info:
        load_dialogue(path)
    assert path.name in str(info.value)
    assert valid_raw["id"] in str(info.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\nturns: [\n  - speaker: agent\n", "utf-8")
    with pytest.raises(DialogueError, match=re.escape(path.name)):
        load_dialogue(path)


# Rendering (festival) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_renders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dialogue, Path, Path]:
    if shutil.which("text2wave") is None or shutil.which("flite") is None:
        pytest.fail("festival/flite are not installed: run scripts/bootstrap.sh --dev")
    from samples.render import render_dialogue

    english = load_dialogues(language="en")
    shortest = min(english, key=lambda d: scripted_transcript(d).duration)
    a, b = tmp_path_factory.mktemp("render-a"), tmp_path_factory.mktemp("render-b")
    # Separate TTS caches: the speech itself is synthesised twice.
    render_dialogue(shortest, a)
    render_dialogue(shortest, b)
    return shortest, a, b


def test_render_is_reproducible(two_renders: tuple[Dialogue, Path, Path]) -> None:
    dialogue, a, b = two_renders
    for kind in ("stereo", "mono"):
        wav_a, wav_b = a / kind / f"{dialogue.id}.wav", b / kind / f"{dialogue.id}.wav"
        assert wav_a.stat().st_size > 10_000
        assert wav_a.read_bytes() == wav_b.read_bytes(), kind
    for rel in (f"truth/{dialogue.id}.json", f"stereo/{dialogue.id}.json",
                f"stereo/{dialogue.id}.rttm", f"stereo/{dialogue.id}.txt"):
        assert (a / rel).read_text("utf-8") == (b / rel).read_text("utf-8"), rel


def test_rendered_files_describe_the_dialogue(two_renders: tuple[Dialogue, Path, Path]) -> None:
    from ingest.probe import probe

    dialogue, a, _ = two_renders
    truth = json.loads((a / "truth" / f"{dialogue.id}.json").read_text("utf-8"))
    assert truth["id"] == dialogue.id
    assert truth["expected"] == dialogue.expected.model_dump()
    assert [t["role"] for t in truth["turns"]] == [t.speaker for t in dialogue.turns]
    assert [t["text"] for t in truth["turns"]] == [t.text.strip() for t in dialogue.turns]

    stereo = probe(a / "stereo" / f"{dialogue.id}.wav")
    mono = probe(a / "mono" / f"{dialogue.id}.wav")
    assert (stereo.channels, stereo.sample_rate, stereo.codec) == (2, 8000, "pcm_mulaw")
    assert (mono.channels, mono.sample_rate, mono.codec) == (1, 8000, "pcm_mulaw")
    assert stereo.duration == pytest.approx(truth["duration"], abs=0.01)
    assert truth["turns"][-1]["end"] <= truth["duration"]

    side = json.loads((a / "stereo" / f"{dialogue.id}.json").read_text("utf-8"))
    assert side["call_id"] == dialogue.id
    assert side["channel_map"] == ["agent", "customer"]
    mono_side = json.loads((a / "mono" / f"{dialogue.id}.json").read_text("utf-8"))
    assert mono_side["channel_map"] is None
    assert mono_side["call_id"] != side["call_id"]

    rttm = (a / "stereo" / f"{dialogue.id}.rttm").read_text("utf-8").splitlines()
    assert len(rttm) == len(truth["turns"])
    for line, turn in zip(rttm, truth["turns"], strict=True):
        fields = line.split()
        assert fields[0] == "SPEAKER"
        assert float(fields[3]) == pytest.approx(turn["start"], abs=0.001)
        assert float(fields[4]) == pytest.approx(turn["end"] - turn["start"], abs=0.001)
        assert fields[7] == turn["role"]


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def test_truth_turn_times_match_the_audio(two_renders: tuple[Dialogue, Path, Path]) -> None:
    from transcribe.audio import decode_audio

    dialogue, a, _ = two_renders
    truth = json.loads((a / "truth" / f"{dialogue.id}.json").read_text("utf-8"))
    audio = decode_audio(a / "stereo" / f"{dialogue.id}.wav", sample_rate=8000)
    assert audio.channels == 2
    rate = audio.sample_rate
    agent = audio.samples[0]
    n = agent.shape[0]

    def span(start: float, end: float) -> slice:
        return slice(max(0, int(start * rate)), min(n, int(end * rate)))

    busy = np.zeros(n, dtype=bool)
    for t in truth["turns"]:
        busy[span(t["start"] - 0.05, t["end"] + 0.05)] = True
    for start, end in truth["holds"]:
        busy[span(start, end)] = True
    outside = agent[~busy]
    assert outside.size > rate * 1.0, "need some audio outside every turn"
    floor = _rms_db(outside)

    agent_turns = [t for t in truth["turns"] if t["role"] == "agent"]
    inside = np.concatenate([agent[span(t["start"], t["end"])] for t in agent_turns])
    assert _rms_db(inside) - floor > 25
    # Every single agent turn holds speech where the truth says, not just on average.
    for t in agent_turns:
        assert _rms_db(agent[span(t["start"], t["end"])]) - floor > 15, t

    # The agent channel is the agent's: customer turns only leak in as faint crosstalk.
    customer_only = np.zeros(n, dtype=bool)
    for t in truth["turns"]:
        if t["role"] == "customer":
            customer_only[span(t["start"], t["end"])] = True
    for t in agent_turns:
        customer_only[span(t["start"] - 0.05, t["end"] + 0.05)] = False
    assert _rms_db(inside) - _rms_db(agent[customer_only]) > 15
