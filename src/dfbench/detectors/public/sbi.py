"""Self-Blended Images' detector (Shiohara & Yamasaki, CVPR 2022; ``src/inference/model.py``).

``Detector.net`` is efficientnet_pytorch's EfficientNet-B4 with two classes (static "same"
padding for 380 px, average pool, dropout, ``_fc``); checkpoints are ``torch.save({"model":
state_dict, ...})``. Inputs are RGB / 255 at 380 px with no mean/std; softmax[:, 1] = fake.
On video SBI scores a frame by its most fake face and a video by the mean over frames.
"""

from __future__ import annotations

from torch import Tensor

from ..base import register_detector
from .base import PublicDetector
from .layout import Head, Layout, Release, declare

LAYOUT = declare(Layout(
    architecture="EfficientNet-B4 (efficientnet_pytorch), _fc 1792 -> 2",
    trained_on="FaceForensics++ real videos + self-blended images (raw or c23)",
    preprocessing="RetinaFace crop resized to 380, RGB / 255 (no mean/std)",
    releases=(Release("FFraw.tar"), Release("FFc23.tar")),
    signature=(("net._conv_stem.weight", (48, 3, 3, 3)), ("net._fc.weight", (2, 1792))),
    name="sbi_efficientnet_b4", project="Self-Blended Images (Shiohara & Yamasaki, CVPR 2022)", input_size=380,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), fake_index=1, head=Head.TWO_LOGITS, root="net.",
    nesting=("model",), face_crop="RetinaFace crop (SBI's crop_retina_ff.py), 380 px",
    video="mean over frames of the max over faces (dfbench: one face per frame, PerFrame's mean)",
    weights="the SBI repository's released checkpoints (FFraw.tar, FFc23.tar), downloaded by you"))


class SBIEfficientNetB4(PublicDetector):
    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        from efficientnet_pytorch import EfficientNet

        super().__init__(input_size)
        self.net = EfficientNet.from_name("efficientnet-b4", num_classes=2)

    def raw(self, z: Tensor) -> Tensor:
        return self.net(z)


@register_detector("sbi_efficientnet_b4")
def sbi_efficientnet_b4(input_size: tuple[int, int] | None = None) -> SBIEfficientNetB4:
    return SBIEfficientNetB4(input_size)
