"""An image detector applied to every frame of a clip, its fake-probabilities averaged.

This is how the field scores videos with frame-level models (FaceForensics++ reports
video-level accuracy this way): ``P(fake | clip) = mean_t P(fake | frame_t)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError
from .base import Detector


class PerFrame(Detector):
    """``(N, T, 3, H, W)`` -> ``(N, 2)`` logits ``[log(1 - p), log p]`` with p the mean frame score.

    Computed in log space (``log mean_t p_t = logsumexp_t log p_t - log T``), so a confident
    clip keeps its margin gradient instead of rounding p to 1.
    """

    modality = "video"

    def __init__(self, inner: Detector) -> None:
        super().__init__(inner.input_size)
        self.inner = inner
        self.threshold = inner.threshold

    def normalize(self, x: Tensor) -> Tensor:
        return x  # the inner detector normalizes its frames

    def classify(self, z: Tensor) -> Tensor:
        n, t = z.shape[:2]
        log_p = self.inner(z.flatten(0, 1)).log_softmax(dim=1).view(n, t, 2)
        return torch.logsumexp(log_p, dim=1) - math.log(t)


def for_modality(detector: Detector, modality: str, name: str = "") -> Detector:
    """``detector`` ready for data of ``modality``: image detectors score clips frame by frame."""
    if detector.modality == modality:
        return detector
    if detector.modality == "image" and modality == "video":
        return PerFrame(detector)
    raise ConfigError(f"detector {name or type(detector).__name__} takes video clips (N, T, 3, H, W); this dataset "
                      "has images (use a video dataset, e.g. mini_video)")
