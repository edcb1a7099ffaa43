"""Audio -> Transcript: decode, speech activity, ASR, words -> speakers, roles."""

from transcribe.audio import DecodedAudio, decode_audio
from transcribe.pipeline import TranscribeOptions, TranscribeParams, transcribe

__all__ = ["DecodedAudio", "TranscribeOptions", "TranscribeParams", "decode_audio", "transcribe"]
