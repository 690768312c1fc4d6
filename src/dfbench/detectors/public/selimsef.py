"""The DFDC winner's classifier (Selim Seferbekov, 2020; ``training/zoo/classifiers.py``).

``DeepFakeClassifier``: ``encoder`` is timm's ``tf_efficientnet_b7`` (the ``_ns`` weights
were a pretrained tag; its own classifier stays in the state dict, unused), then an average
pool, dropout and ``fc`` with one logit. Checkpoints are ``{"state_dict": ...}`` saved from
DataParallel (``module.`` prefix). 380 px, ImageNet mean/std, sigmoid = fake.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..base import IMAGENET_MEAN, IMAGENET_STD, register_detector
from .base import PublicDetector
from .layout import Head, Layout, declare

LAYOUT = declare(Layout(
    architecture="EfficientNet-B7 (timm tf_efficientnet_b7), fc 2560 -> 1", trained_on="DFDC training set",
    preprocessing="MTCNN crop with 30% margin, isotropic resize and pad to 380, ImageNet mean/std",
    signature=(("encoder.conv_stem.weight", (64, 3, 3, 3)), ("fc.weight", (1, 2560))),
    name="selimsef_efficientnet_b7", project="DFDC winner (Seferbekov, 2020)", input_size=380, mean=IMAGENET_MEAN,
    std=IMAGENET_STD, fake_index=1, head=Head.ONE_LOGIT, root="encoder.", nesting=("state_dict",),
    face_crop="MTCNN crop with 30% margin, isotropic resize and pad to 380 px",
    video="per-frame sigmoid, the winner's confident strategy over frames (dfbench: PerFrame's mean)",
    weights="the dfdc_deepfake_challenge release (final_*_DeepFakeClassifier_tf_efficientnet_b7_ns_*), "
            "downloaded by you"))


class SelimsefEfficientNetB7(PublicDetector):
    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        import timm  # imported on first use: `import dfbench` stays light

        super().__init__(input_size)
        self.encoder: Any = timm.create_model("tf_efficientnet_b7", pretrained=False)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2560, 1)  # tf_efficientnet_b7's features

    def raw(self, z: Tensor) -> Tensor:
        return self.fc(self.avg_pool(self.encoder.forward_features(z)).flatten(1))


@register_detector("selimsef_efficientnet_b7")
def selimsef_efficientnet_b7(input_size: tuple[int, int] | None = None) -> SelimsefEfficientNetB7:
    return SelimsefEfficientNetB7(input_size)
