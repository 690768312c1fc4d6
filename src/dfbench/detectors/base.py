"""The one interface every detector implements."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from .._registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Detector(nn.Module):
    """Maps RGB in [0, 1] to logits over (real, fake); owns its normalization.

    Subclasses implement :meth:`classify` on normalized input. Attacks therefore work in
    [0, 1] pixel space and an epsilon means the same for every detector.

    Shape:
        - input: ``(N, 3, H, W)`` for ``modality == "image"``, ``(N, T, 3, H, W)`` for video,
          values in [0, 1]
        - output: ``(N, 2)`` logits, class 0 = real, class 1 = fake
    """

    modality: Literal["image", "video"] = "image"  # wrappers take their inner detector's
    mean: Tensor
    std: Tensor
    # P(fake) at or above which the detector calls a sample fake; calibrated on clean
    # validation data when trained (the checkpoint card), 0.5 otherwise.
    threshold: float = 0.5
    # Where a detector that came with its own weights read them (a Hugging Face folder): `run`
    # neither trains nor loads it, and records this path and its files' digest.
    pretrained_from: Path | None = None

    def __init__(
        self,
        input_size: tuple[int, int] = (64, 64),
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    @property
    def randomized(self) -> bool:
        """Draws random numbers at inference (a randomized defense inside it): a draw that fools it
        says little of the next, so attacks keep no first adversarial and do not stop early."""
        return any(m.randomized for m in self.children() if isinstance(m, Detector))

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        logits = self.classify(self.normalize(x))
        if logits.shape != (x.shape[0], 2):
            raise DetectorOutputError(f"{type(self).__name__} returned logits of shape {tuple(logits.shape)} for "
                                      f"{x.shape[0]} inputs; a detector returns (N, 2)")
        return logits

    def classify(self, z: Tensor) -> Tensor:
        """Logits ``(N, 2)`` from normalized input."""
        raise NotImplementedError

    def penultimate(self, z: Tensor) -> Tensor:
        """The features ``(N, D)`` that the detector's last linear readout reads, from normalized input: the
        hook of the binarization test (dfbench.audit). Detectors without it cannot be audited."""
        raise NotImplementedError(f"{type(self).__name__} has no penultimate() feature hook")

    def score(self, x: Tensor) -> Tensor:
        """Probability of fake, shape ``(N,)``."""
        return self(x).softmax(dim=1)[:, 1]

    def predict(self, x: Tensor) -> Tensor:
        """The decision at :attr:`threshold`: 1 = fake, 0 = real, shape ``(N,)`` int64."""
        return self.decide(self(x))

    def decide(self, logits: Tensor) -> Tensor:
        """:meth:`predict` from this detector's logits ``(N, 2)``: P(fake) >= :attr:`threshold`, in the
        logits' precision, exactly as the benchmark scores (a saturated softmax included)."""
        return (logits.softmax(dim=1)[:, 1] >= self.threshold).long()

    @staticmethod
    def two_logits(z: Tensor) -> Tensor:
        """Adapt a single fake-logit head ``(N, 1)`` to two logits ``[0, z]``.

        ``softmax([0, z])[1] == sigmoid(z)``, so the model is the papers' sigmoid head.
        """
        return torch.cat([torch.zeros_like(z), z], dim=1)


class DetectorOutputError(ValueError):
    """A detector broke the interface (wrong output shape): its cells fail, the grid goes on."""


detectors: Registry[Detector] = Registry("detector", "dfbench.detectors")
register_detector = detectors.register
