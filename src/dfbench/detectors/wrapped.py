"""Any model behind the Detector interface: a plain ``nn.Module`` or a callable, with its conventions.

A detector someone already has rarely speaks dfbench's interface (RGB in [0, 1] -> two
logits, fake = 1). :func:`wrap` declares its conventions instead of rewriting it:

- ``mean`` / ``std``: the normalization it expects, applied inside the wrapper, so every
  epsilon stays in [0, 1] pixel space;
- ``output``: ``"logits"`` (N, 2), ``"logit"`` (one logit, (N,) or (N, 1), made ``[0, z]``:
  softmax of that is the sigmoid) or ``"probs"`` (probabilities, (N, 2) or (N,) of the
  ``fake_index`` class; turned into log-probabilities, whose softmax gives them back — the
  sanity probe's flags then tell what a saturated probability costs the attacks);
- ``fake_index``: which output means fake (some public models use 1 = real).

Shape: ``(N, 3, H, W)`` (or ``(N, T, 3, H, W)`` with ``modality="video"``) in [0, 1] ->
``(N, 2)`` logits, class 1 = fake.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .base import Detector, DetectorOutputError

Output = Literal["logits", "logit", "probs"]
OUTPUTS: tuple[str, ...] = ("logits", "logit", "probs")
PROB_FLOOR = 1e-12  # log(0) would be -inf: a probability of exactly 0 or 1 keeps a finite margin


class Wrapped(Detector):
    """``model`` with its conventions declared (see the module docstring)."""

    def __init__(self, model: nn.Module | Callable[[Tensor], Tensor], *, input_size: tuple[int, int] = (64, 64),
                 mean: tuple[float, float, float] | None = None, std: tuple[float, float, float] | None = None,
                 output: str = "logits", fake_index: int = 1, modality: str = "image") -> None:
        super().__init__(input_size, mean or (0.0, 0.0, 0.0), std or (1.0, 1.0, 1.0))
        if not callable(model):
            raise TypeError(f"wrap() takes an nn.Module or a callable, got {type(model).__name__}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if fake_index not in (0, 1) or isinstance(fake_index, bool):
            raise ValueError(f"fake_index must be 0 or 1, got {fake_index!r}")
        if modality not in ("image", "video"):
            raise ValueError(f"modality must be image or video, got {modality!r}")
        if any(s == 0 for s in std or (1.0,)):
            raise ValueError(f"std must be non-zero, got {std}")
        self.model = model  # an nn.Module registers as a submodule: its parameters are the detector's
        self.output, self.fake_index, self.modality = output, int(fake_index), modality  # type: ignore[assignment]

    def classify(self, z: Tensor) -> Tensor:
        out = self.model(z)
        if not isinstance(out, Tensor):
            raise DetectorOutputError(f"the wrapped model returned {type(out).__name__}, not a tensor "
                                      "(a model returning a tuple or dict needs a small adapter)")
        n = z.shape[0]
        if self.output == "logit" or self.output == "probs" and out.shape in ((n,), (n, 1)):
            if out.shape not in ((n,), (n, 1)):
                raise DetectorOutputError(f"output='logit' expects (N,) or (N, 1), got {tuple(out.shape)}")
            one = out.reshape(n, 1).float()
            if self.output == "probs":
                one = one.clamp(PROB_FLOOR, 1 - PROB_FLOOR)
                two = torch.cat([torch.log1p(-one), one.log()], dim=1)
            else:
                two = self.two_logits(one)
        else:
            if out.shape != (n, 2):
                raise DetectorOutputError(f"output={self.output!r} expects (N, 2), got {tuple(out.shape)}")
            two = out.float().clamp_min(PROB_FLOOR).log() if self.output == "probs" else out
        return two if self.fake_index == 1 else two.flip(1)

    def extra_repr(self) -> str:
        return f"output={self.output}, fake_index={self.fake_index}"


def wrap(model: Any, *, input_size: tuple[int, int] | int | None = None, mean: tuple[float, float, float] | None = None,
         std: tuple[float, float, float] | None = None, output: str = "logits", fake_index: int = 1,
         modality: str | None = None) -> Detector:
    """``model`` as a Detector: returned as it is when it already is one (and no convention is
    given), else wrapped with its conventions. ``input_size``: (H, W) or a side."""
    conventions = (mean, std, output != "logits", fake_index != 1, modality)
    if isinstance(model, Detector):
        if any(c not in (None, False) for c in conventions):
            raise TypeError(f"{type(model).__name__} is a dfbench Detector already: it owns its normalization, "
                            "modality and two logits (mean, std, output, fake_index, modality are for other models)")
        return model
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size or (64, 64))
    return Wrapped(model, input_size=(int(size[0]), int(size[1])), mean=mean, std=std, output=output,
                   fake_index=fake_index, modality=modality or "image")


def model_side(model: Any, default: int) -> int:
    """The input side a model declares (``input_size``: a side or (H, W)), else ``default``."""
    own = getattr(model, "input_size", None)
    if isinstance(own, int):
        return own
    return int(own[0]) if isinstance(own, tuple | list) and own else default


def require_detector(obj: Any, what: str) -> Detector:
    """``obj`` if it is a Detector, else a one-line TypeError saying what to do."""
    if isinstance(obj, Detector):
        return obj
    raise TypeError(f"{what} takes a dfbench Detector, got {type(obj).__name__}; wrap it with "
                    "dfbench.wrap(model, mean=..., std=..., output=..., fake_index=...) or evaluate it in one call "
                    "with dfbench.evaluate(model, ...)")


def model_fingerprint(detector: Detector) -> str:
    """A sha256 that names what the detector computes: its state dict's names, shapes, dtypes
    and bytes, its normalization and conventions (``repr``, input size, mean/std); for a wrapped
    callable without weights, its source code and what it closes over (or its ``repr``)."""
    h = hashlib.sha256()
    h.update(f"{detector!r}|{detector.input_size}|{detector.mean.tolist()}|{detector.std.tolist()}|".encode())
    state = detector.state_dict()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if not state and isinstance(detector, Wrapped):
        model = detector.model
        if inspect.isfunction(model):
            try:
                h.update(inspect.getsource(model).encode())
            except (OSError, TypeError):
                h.update(model.__qualname__.encode())
            cells = [c.cell_contents for c in model.__closure__ or ()]
            h.update(repr((model.__defaults__, model.__kwdefaults__, cells)).encode())
        else:  # a partial or another callable object: what it prints (an address where it shows nothing else)
            h.update(repr(model).encode())
    return h.hexdigest()
