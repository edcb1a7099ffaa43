"""Transcription progress in seconds of audio: legs weighted by speech, segments as the
engine decodes them, watchers per context."""

from __future__ import annotations

import threading

from transcribe.progress import SpeechProgress, decoded, for_call, watching


def test_each_leg_fills_its_share_of_the_call_as_segments_decode() -> None:
    reports: list[tuple[float, float]] = []
    watch = SpeechProgress(lambda done, total: reports.append((done, total)), [10.0, 30.0], 60.0)
    with watch.leg(0):
        decoded(5.0)        # half of leg 0's speech: 5 of 40 s of speech, of a 60 s call
        decoded(-1.0)       # nonsense never moves it back
    with watch.leg(1):
        decoded(15.0)
        decoded(100.0)      # more than the leg holds (packing gaps, retries): capped
    watch.finish()
    assert reports == [(7.5, 60.0), (7.5, 60.0), (15.0, 60.0), (37.5, 60.0), (60.0, 60.0),
                       (60.0, 60.0), (60.0, 60.0)]


def test_no_callback_no_reports_and_no_speech_is_done() -> None:
    silent = SpeechProgress(None, [0.0], 8.0)
    with silent.leg(0):
        decoded(3.0)  # no sink installed by a watcher-less leg: ignored
    silent.finish()
    reports: list[float] = []
    empty = SpeechProgress(lambda done, _total: reports.append(done), [0.0, 0.0], 8.0)
    empty.finish()
    assert reports == [8.0]


def test_watchers_see_only_calls_of_their_own_context() -> None:
    seen: list[tuple[str, float, float]] = []
    assert for_call("c-1") is None
    with watching(lambda *args: seen.append(args)):
        report = for_call("c-1")
        assert report is not None
        report(3.0, 9.0)
        other: list[object] = []
        thread = threading.Thread(target=lambda: other.append(for_call("c-2")))
        thread.start()
        thread.join()
        assert other == [None]  # another thread's calls are not ours
    assert for_call("c-1") is None
    assert seen == [("c-1", 3.0, 9.0)]
