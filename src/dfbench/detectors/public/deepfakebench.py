"""DeepfakeBench's Xception and EfficientNet-B4 (Yan et al., NeurIPS 2023 Datasets and Benchmarks).

DeepfakeBench saves the state dict of its whole detector: the backbone under ``backbone.``.
- Xception (``training/networks/xception.py``, from FaceForensics++'s): timm's
  ``legacy_xception`` has the same layers, paddings and key names (conv1 stride 2 unpadded,
  separable convs, blocks ``rep``, skip), with DeepfakeBench's head ``last_linear`` (ReLU,
  global average pool, linear) and its ``adjust_channel`` block, whose weights the checkpoint
  holds although mode "original" never runs it.
- EfficientNet-B4 (``training/networks/efficientnetb4.py``): efficientnet_pytorch's B4
  (``from_name``: static "same" padding computed for 380 px, kept at any input size), whose
  stem DeepfakeBench replaces by a plain unpadded ``Conv2d(3, 48, 3, stride=2)``; ``_fc``
  is removed and ``last_layer`` (1792 -> 2) classifies the pooled features.
CORE and SPSL are its Xception at inference (SPSL with a fourth, phase-spectrum channel); the
Mesonets are in deepfakebench_meso.py. All: 256 px, mean = std = 0.5, two logits,
softmax[:, 1] = fake.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import register_detector
from .base import PublicDetector
from .layout import Head, Layout, Release, declare
from .xception import xception_logits, xception_with_last_linear


def deepfakebench_layout(**fields: Any) -> Layout:
    """A DeepfakeBench detector's layout: what every one of its released detectors shares, and ``fields``."""
    return Layout(**{**dict(
        project="DeepfakeBench (Yan et al., NeurIPS 2023)", input_size=256, mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5), fake_index=1, head=Head.TWO_LOGITS, root="backbone.", trained_on="FaceForensics++ c23",
        preprocessing="face crop resized to 256 (bicubic), mean = std = 0.5",
        face_crop="DeepfakeBench's preprocessing: face crop with margin, resized to 256 px",
        video="frame level (DeepfakeBench reports frame AUC)",
        weights="DeepfakeBench's model zoo (its GitHub release v1.0.1), downloaded by you"), **fields})


XCEPTION_SIGNATURE = (("backbone.conv1.weight", (32, 3, 3, 3)), ("backbone.last_linear.weight", (2, 2048)),
                      ("backbone.adjust_channel.0.weight", (512, 2048, 1, 1)))
XCEPTION = declare(deepfakebench_layout(
    name="deepfakebench_xception", architecture="Xception (Chollet 2017), last_linear 2048 -> 2",
    releases=(Release("xception_best.pth"),), signature=XCEPTION_SIGNATURE,
    reported=(("FF++ c23 frame AUC", 0.9637), ("Celeb-DF v2 frame AUC", 0.7365))))
EFFICIENTNET_B4 = declare(deepfakebench_layout(
    name="deepfakebench_efficientnetb4", architecture="EfficientNet-B4 with an unpadded stem, last_layer 1792 -> 2",
    releases=(Release("effnb4_best.pth"),),
    signature=(("backbone.efficientnet._conv_stem.weight", (48, 3, 3, 3)), ("backbone.last_layer.weight", (2, 1792))),
    reported=(("FF++ c23 frame AUC", 0.9567), ("Celeb-DF v2 frame AUC", 0.7487))))
CORE = declare(deepfakebench_layout(
    name="deepfakebench_core", architecture="Xception (CORE's consistency loss acts in training only)",
    releases=(Release("core_best.pth"),), signature=XCEPTION_SIGNATURE,
    reported=(("FF++ c23 frame AUC", 0.9638), ("Celeb-DF v2 frame AUC", 0.7428))))
SPSL = declare(deepfakebench_layout(
    name="deepfakebench_spsl", architecture="Xception on RGB + the phase-only spectrum (4 input channels)",
    releases=(Release("spsl_best.pth"),),
    signature=(("backbone.conv1.weight", (32, 4, 3, 3)), ("backbone.last_linear.weight", (2, 2048))),
    reported=(("FF++ c23 frame AUC", 0.9610), ("Celeb-DF v2 frame AUC", 0.7650))))


class DeepfakeBenchXception(PublicDetector):
    layout = XCEPTION

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size)
        self.backbone = xception_with_last_linear()
        self.backbone.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512),
                                                     nn.ReLU(inplace=True))  # in the checkpoint, unused

    def raw(self, z: Tensor) -> Tensor:
        return xception_logits(self.backbone, z)


class DeepfakeBenchEfficientNetB4(PublicDetector):
    layout = EFFICIENTNET_B4

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        from efficientnet_pytorch import EfficientNet

        super().__init__(input_size)
        efficientnet: Any = EfficientNet.from_name("efficientnet-b4")
        efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)  # unpadded, as DeepfakeBench's
        efficientnet._fc = nn.Identity()
        self.backbone: Any = nn.Module()
        self.backbone.efficientnet = efficientnet
        self.backbone.last_layer = nn.Linear(1792, 2)

    def raw(self, z: Tensor) -> Tensor:
        x = self.backbone.efficientnet.extract_features(z)
        return self.backbone.last_layer(F.adaptive_avg_pool2d(x, 1).flatten(1))


class DeepfakeBenchCORE(DeepfakeBenchXception):
    """CORE (Ni et al., CVPR 2022): DeepfakeBench's Xception at inference (``core_detector.py``)."""

    layout = CORE


def phase_only(z: Tensor) -> Tensor:
    """SPSL's ``phase_without_amplitude``: the channel-mean image rebuilt from its Fourier phase alone
    (amplitude 1), on the normalized input; ``(N, 3, H, W)`` -> ``(N, 1, H, W)``."""
    spectrum = torch.fft.fftn(z.mean(dim=1, keepdim=True), dim=(-1, -2))
    return torch.real(torch.fft.ifftn(torch.exp(1j * torch.angle(spectrum)), dim=(-1, -2)))


class DeepfakeBenchSPSL(DeepfakeBenchXception):
    """SPSL (Liu et al., CVPR 2021; ``spsl_detector.py``): Xception whose ``conv1`` takes 4 channels, the
    normalized RGB and :func:`phase_only` (per image, as DeepfakeBench since v2; its first release took the
    FFT over the batch too, which equals this at batch size 1)."""

    layout = SPSL

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size)
        self.backbone.conv1 = nn.Conv2d(4, 32, 3, 2, 0, bias=False)

    def raw(self, z: Tensor) -> Tensor:
        return xception_logits(self.backbone, torch.cat([z, phase_only(z)], dim=1))


@register_detector("deepfakebench_core")
def deepfakebench_core(input_size: tuple[int, int] | None = None) -> DeepfakeBenchCORE:
    return DeepfakeBenchCORE(input_size)


@register_detector("deepfakebench_spsl")
def deepfakebench_spsl(input_size: tuple[int, int] | None = None) -> DeepfakeBenchSPSL:
    return DeepfakeBenchSPSL(input_size)


@register_detector("deepfakebench_xception")
def deepfakebench_xception(input_size: tuple[int, int] | None = None) -> DeepfakeBenchXception:
    return DeepfakeBenchXception(input_size)


@register_detector("deepfakebench_efficientnetb4")
def deepfakebench_efficientnetb4(input_size: tuple[int, int] | None = None) -> DeepfakeBenchEfficientNetB4:
    return DeepfakeBenchEfficientNetB4(input_size)
