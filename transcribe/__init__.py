"""Audio -> Transcript: decode, speech activity, ASR, words -> speakers, roles."""

from transcribe.audio import DecodedAudio, decode_audio
from transcribe.pipeline import (
    TranscribeOptions,
    TranscribeParams,
    assemble_transcript,
    recognise,
    stage_version,
    transcribe,
)

__all__ = ["DecodedAudio", "TranscribeOptions", "TranscribeParams", "assemble_transcript",
           "decode_audio", "recognise", "stage_version", "transcribe"]
