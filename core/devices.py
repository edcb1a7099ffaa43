"""Which device a model runs on: one answer for every stage.

"auto" means CUDA when the library that will run the model sees a GPU. That is asked
of the library itself: the GPU image may pair a CUDA build of CTranslate2 with a CPU
build of torch.
"""

from __future__ import annotations

from typing import Literal

Runtime = Literal["torch", "ctranslate2"]


class DeviceUnavailable(ValueError):
    """A CUDA device was asked for where the runtime sees none."""


def cuda_available(runtime: Runtime = "torch") -> bool:
    try:
        if runtime == "ctranslate2":
            import ctranslate2

            return bool(ctranslate2.get_cuda_device_count() > 0)
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a runtime that is missing or cannot load its CUDA libraries
        return False


def resolve_device(device: str = "auto", runtime: Runtime = "torch") -> str:
    """'auto' -> 'cuda' or 'cpu'; an explicit 'cuda[:n]' only where there is one."""
    if device == "auto":
        return "cuda" if cuda_available(runtime) else "cpu"
    if device.startswith("cuda") and not cuda_available(runtime):
        raise DeviceUnavailable(f"device {device!r} requested but {runtime} sees no CUDA device")
    return device
