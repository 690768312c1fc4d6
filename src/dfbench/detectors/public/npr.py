"""NPR (Tan et al., "Rethinking the Up-Sampling Operations in CNN-based Generative Network for
Generalizable Deepfake Detection", CVPR 2024; ``networks/resnet.py``).

A ResNet-50 cut after ``layer2``: a 3x3 stride-2 stem (not 7x7), ``layer1``-``layer2``, global
average pool and ``fc1`` (512 -> 1). Its input is the neighbouring-pixel residual of the
normalized image, NPR = x - up(down(x)) with nearest 0.5x / 2x, scaled by 2/3. ``NPR.pth`` is
a raw state dict. ``test.py`` resizes to 256 (bilinear) for most test sets, ImageNet mean/std;
sigmoid = fake. Odd sides: the last row / column is dropped first (the project's README fix).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..base import IMAGENET_MEAN, IMAGENET_STD, register_detector
from .base import PublicDetector
from .layout import Head, Layout, Release, declare

LAYOUT = declare(Layout(
    name="npr_resnet50", project="NPR (Tan et al., CVPR 2024)", input_size=256, mean=IMAGENET_MEAN,
    std=IMAGENET_STD, fake_index=1, head=Head.ONE_LOGIT, root="",
    architecture="ResNet-50 stem (3x3, stride 2) + layer1-2 on the nearest-neighbour residual, fc1 512 -> 1",
    trained_on="ProGAN, 4 LSUN classes (car, cat, chair, horse)",
    preprocessing="resize to 256 x 256 (bilinear), no crop; odd sides lose their last row / column",
    face_crop="none: whole images", video="image level",
    weights="the NPR-DeepfakeDetection repository's NPR.pth, downloaded by you",
    releases=(Release("NPR.pth"), Release("model_epoch_last_3090.pth")),
    signature=(("conv1.weight", (64, 3, 3, 3)), ("layer2.3.conv3.weight", (512, 128, 1, 1)), ("fc1.weight", (1, 512)))))


def npr(x: Tensor) -> Tensor:
    """x - nearest-upsample(nearest-downsample(x)), as NPR's ``interpolate(x, 0.5)``; even sides."""
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)


class NPRResNet50(PublicDetector):
    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        from torchvision.models import resnet50

        super().__init__(input_size)
        net = resnet50()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.avgpool = net.avgpool
        self.fc1 = nn.Linear(512, 1)

    def raw(self, z: Tensor) -> Tensor:
        z = z[..., : z.shape[-2] // 2 * 2, : z.shape[-1] // 2 * 2]
        x = self.conv1(npr(z) * 2.0 / 3.0)
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(x)))))
        return self.fc1(self.avgpool(x).flatten(1))


@register_detector("npr_resnet50")
def npr_resnet50(input_size: tuple[int, int] | None = None) -> NPRResNet50:
    return NPRResNet50(input_size)
