"""Device selection and the GPU fast path: channels_last, pinned memory, non-blocking copies,
and recognising CUDA out-of-memory so a job can retry with half the batch.

Attacks and scoring stay in float32 on every device: a robust-accuracy number must not depend
on the card it was measured on more than the hardware's own float32 arithmetic makes it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import DfbenchError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (the first CUDA device if there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise DfbenchError(f"--device {spec}: no CUDA device is available (torch {torch.__version__}, {build}); "
                               "use --device cpu or auto")
        try:
            device = torch.device(spec)
        except RuntimeError:
            raise DfbenchError(f"--device {spec}: not a device; use cuda or cuda:N") from None
        if (device.index or 0) >= torch.cuda.device_count():
            raise DfbenchError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
        return device
    raise DfbenchError(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device``; on CUDA in channels_last layout (faster convolutions, same numbers)."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def staged(images: Tensor, device: torch.device) -> Tensor:
    """Host tensor ready for fast copies: pinned when the device is a GPU."""
    return images.pin_memory() if device.type == "cuda" and not images.is_pinned() else images


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """Copy to ``device``, without blocking the host when the source is pinned."""
    return x.to(device, non_blocking=x.is_pinned())


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
