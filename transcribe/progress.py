"""Progress through transcription in seconds of audio, pyannote-style:
`progress(seconds_done, seconds_total)`.

transcribe() takes the callback; the engines report each segment as it is decoded
(`decoded`) and transcribe() turns that into seconds of the call, weighting each leg by
its speech. `watching` lets a caller that cannot pass a callback down (the CLI in
one-process mode: the stages run behind core.pipeline and Celery's eager apply) watch
every call transcribed in its context; the transcription task reads it with
`for_call`. Context variables, so concurrent calls in other threads never mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

AudioProgress = Callable[[float, float], None]  # (seconds done, seconds in all)
CallAudioProgress = Callable[[str, float, float], None]  # (call id, done, in all)

_watcher: ContextVar[CallAudioProgress | None] = ContextVar("callqa_audio_watcher",
                                                            default=None)
_decoded: ContextVar[Callable[[float], None] | None] = ContextVar("callqa_decoded",
                                                                  default=None)


@contextmanager
def watching(callback: CallAudioProgress) -> Iterator[None]:
    """Every call transcribed in this context reports (call id, done, in all) seconds."""
    token = _watcher.set(callback)
    try:
        yield
    finally:
        _watcher.reset(token)


def current_watcher() -> CallAudioProgress | None:
    """Who watches the calls transcribed in this context (None: nobody)."""
    return _watcher.get()


def for_call(call_id: str) -> AudioProgress | None:
    """The watcher's callback for one call, if anyone watches."""
    watcher = _watcher.get()
    if watcher is None:
        return None
    return lambda done, total: watcher(call_id, done, total)


def decoded(seconds: float) -> None:
    """An engine decoded a segment this long (called per segment, as decoding goes)."""
    sink = _decoded.get()
    if sink is not None:
        sink(seconds)


class SpeechProgress:
    """Seconds of the call transcribed so far: each leg's share of the call is its share of
    the speech, filled by the segments decoded on it."""

    def __init__(self, progress: AudioProgress | None, speech: list[float],
                 duration: float) -> None:
        self.progress, self.speech, self.duration = progress, speech, duration
        self.total = sum(speech)

    def _report(self, speech_done: float) -> None:
        if self.progress is not None:
            share = speech_done / self.total if self.total > 0 else 1.0
            self.progress(round(self.duration * min(1.0, share), 3), self.duration)

    @contextmanager
    def leg(self, index: int) -> Iterator[None]:
        if self.progress is None:
            yield
            return
        base, size = sum(self.speech[:index]), self.speech[index]
        done = 0.0

        def add(seconds: float) -> None:
            nonlocal done
            done = min(size, done + max(0.0, seconds))
            self._report(base + done)

        token = _decoded.set(add)
        try:
            yield
        finally:
            _decoded.reset(token)
        self._report(base + size)

    def finish(self) -> None:
        self._report(self.total)
