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
Both: 256 px, mean = std = 0.5, two logits, softmax[:, 1] = fake.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..base import register_detector
from .base import PublicDetector
from .layout import Layout, declare
from .xception import xception_logits, xception_with_last_linear

_layout = partial(Layout, project="DeepfakeBench (Yan et al., NeurIPS 2023)", input_size=256, mean=(0.5, 0.5, 0.5),
                  std=(0.5, 0.5, 0.5), fake_index=1, head="two logits, softmax", root="backbone.",
                  face_crop="DeepfakeBench's preprocessing: face crop with margin, resized to 256 px",
                  video="frame level (DeepfakeBench reports frame AUC)",
                  weights="DeepfakeBench's model zoo (its GitHub releases), downloaded by you")
XCEPTION = declare(_layout(name="deepfakebench_xception"))
EFFICIENTNET_B4 = declare(_layout(name="deepfakebench_efficientnetb4"))


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


@register_detector("deepfakebench_xception")
def deepfakebench_xception(input_size: tuple[int, int] | None = None) -> DeepfakeBenchXception:
    return DeepfakeBenchXception(input_size)


@register_detector("deepfakebench_efficientnetb4")
def deepfakebench_efficientnetb4(input_size: tuple[int, int] | None = None) -> DeepfakeBenchEfficientNetB4:
    return DeepfakeBenchEfficientNetB4(input_size)
