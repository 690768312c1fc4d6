"""CNNDetection (Wang et al., "CNN-generated images are surprisingly easy to spot... for now", CVPR 2020).

``networks/resnet.py`` is torchvision's ResNet-50 (stride in the bottleneck's 3x3 conv) with one
output; checkpoints are ``{"model": state_dict, "optimizer": ..., "total_steps": ...}`` (only
``model`` is read, nothing is unpickled). ``demo.py`` feeds the whole image (no resize; its ``-c``
centre crop is the ``crop`` parameter here), ImageNet mean/std; sigmoid = synthetic.
"""

from __future__ import annotations

from torch import Tensor

from ..base import IMAGENET_MEAN, IMAGENET_STD, register_detector
from ..crop import center_crop
from .base import PublicDetector
from .layout import Head, Layout, Release, declare

LAYOUT = declare(Layout(
    name="cnndetection_resnet50", project="CNNDetection (Wang et al., CVPR 2020)", input_size=256,
    mean=IMAGENET_MEAN, std=IMAGENET_STD, fake_index=1, head=Head.ONE_LOGIT, root="", nesting=("model",),
    architecture="ResNet-50, one output", trained_on="ProGAN (20 LSUN classes), blur + JPEG augmentation",
    preprocessing="the whole image, no resize (demo.py); crop=224 for its optional centre crop",
    face_crop="none: whole images", video="image level",
    weights="the CNNDetection repository's weights (blur_jpg_prob0.5.pth, blur_jpg_prob0.1.pth), downloaded by you",
    releases=(Release("blur_jpg_prob0.5.pth"), Release("blur_jpg_prob0.1.pth")),
    signature=(("conv1.weight", (64, 3, 7, 7)), ("layer4.2.conv3.weight", (2048, 512, 1, 1)),
               ("fc.weight", (1, 2048)))))


class CNNDetectionResNet50(PublicDetector):
    """Shape: ``(N, 3, H, W)`` -> one logit; ``crop``: the side of a centre crop first (0: none)."""

    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None, crop: int = 0) -> None:
        from torchvision.models import resnet50

        super().__init__(input_size)
        self.crop = crop
        net = resnet50(num_classes=1)
        # CNNDetection's keys are the ResNet's own, at the top level
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.avgpool, self.fc = net.avgpool, net.fc

    def raw(self, z: Tensor) -> Tensor:
        if self.crop:
            z = center_crop(z, (self.crop, self.crop), -self.mean / self.std)
        x = self.maxpool(self.relu(self.bn1(self.conv1(z))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


@register_detector("cnndetection_resnet50")
def cnndetection_resnet50(input_size: tuple[int, int] | None = None, crop: int = 0) -> CNNDetectionResNet50:
    return CNNDetectionResNet50(input_size, crop)
