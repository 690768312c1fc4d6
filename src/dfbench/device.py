"""Device selection and the GPU fast path: channels_last, pinned memory, non-blocking copies,
a batch size chosen per detector to fit the free GPU memory, and recognising CUDA
out-of-memory so a job can retry with half the batch.

Attacks and scoring are float32 by default on every device; ``--precision`` opts the
detectors into autocast (:mod:`dfbench.detectors.autocast`).
"""

from __future__ import annotations

from typing import Protocol

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


def module_device(model: nn.Module) -> torch.device:
    """Where ``model`` runs: its first parameter's device, else its first buffer's, else the CPU
    (a wrapped callable may have no parameters)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def staged(images: Tensor, device: torch.device) -> Tensor:
    """Host tensor ready for fast copies: pinned when the device is a GPU."""
    return images.pin_memory() if device.type == "cuda" and not images.is_pinned() else images


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """Copy to ``device``, without blocking the host when the source is pinned."""
    return x.to(device, non_blocking=x.is_pinned())


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class MemoryProbe(Protocol):
    def reset(self) -> None: ...
    def in_use(self) -> int: ...
    def peak(self) -> int: ...
    def free(self) -> int: ...


class CudaMemory:
    """Bytes on one CUDA device, from torch's caching allocator and the driver."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)

    def in_use(self) -> int:
        return torch.cuda.memory_allocated(self.device)

    def peak(self) -> int:
        return torch.cuda.max_memory_allocated(self.device)

    def free(self) -> int:
        """Free on the device plus what torch's allocator holds in reserve but does not use."""
        reserve = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return torch.cuda.mem_get_info(self.device)[0] + reserve


def fitting_batch(detector: nn.Module, sample: Tensor, batch_size: int, probe: MemoryProbe | None = None,
                  headroom: float = 0.8, measure_on: int = 2) -> int:
    """The largest batch, at most ``batch_size``, whose attack step fits the free GPU memory.

    One forward and input-gradient backward of ``measure_on`` samples measures the memory a
    sample costs (an attack step's cost grows linearly with the batch); ``headroom`` of the free
    memory is spent. On the CPU (no probe) the grid's batch stands. Out-of-memory halving stays
    the fallback for what this misses (EOT draws, a fragmented allocator).
    """
    if probe is None:
        device = sample.device
        if device.type != "cuda":
            return batch_size
        probe = CudaMemory(device)
    x = sample[:measure_on].detach().requires_grad_(True)
    probe.reset()
    before = probe.in_use()
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):  # randomized defenses
        torch.autograd.grad(detector(x).sum(), x)
    per_sample = max(probe.peak() - before, 1) / len(x)
    return max(1, min(batch_size, int(headroom * probe.free() / per_sample)))
