"""DeepfakeBench's Meso4 and MesoInception4 (Afchar et al., WIFS 2018, as DeepfakeBench's
``training/networks/mesonet.py`` defines them; Yan et al., NeurIPS 2023).

Not the paper's Keras layout: each conv is followed by ReLU *then* BatchNorm, and the batch norms
are shared: Meso4 applies ``bn1`` after conv1 and conv2 and ``bn2`` after conv3 and conv4 (one set
of running statistics for two layers); MesoInception4 applies ``bn1`` after both plain convs. The
inception branches have no activation; convs have no bias. Head: dropout, ``fc1`` (1024 -> 16),
LeakyReLU(0.1), dropout, ``fc2`` (16 -> 2). 256 px (the 16 x 8 x 8 flatten needs it), mean = std = 0.5,
softmax[:, 1] = fake. Whole-detector state dicts under ``backbone.``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from ..base import register_detector
from .base import PublicDetector
from .deepfakebench import deepfakebench_layout
from .layout import Release, declare

MESO4 = declare(deepfakebench_layout(
    name="deepfakebench_meso4", fixed_size=True,
    architecture="Meso4 (ReLU before BatchNorm, shared bn1 / bn2), fc 1024 -> 16 -> 2",
    releases=(Release("meso4_best.pth"),), reported=(("FF++ c23 frame AUC", 0.6077), ("Celeb-DF v2 frame AUC", 0.6091)),
    signature=(("backbone.conv1.weight", (8, 3, 3, 3)), ("backbone.fc2.weight", (2, 16)))))
MESO_INCEPTION4 = declare(deepfakebench_layout(
    name="deepfakebench_meso4inception", fixed_size=True,
    architecture="MesoInception4 (two inception layers, shared bn1)",
    releases=(Release("meso4Incep_best.pth"),),
    reported=(("FF++ c23 frame AUC", 0.7583), ("Celeb-DF v2 frame AUC", 0.6966)),
    signature=(("backbone.Incption1_conv1.weight", (1, 3, 1, 1)), ("backbone.fc2.weight", (2, 16)))))

conv = partial(nn.Conv2d, bias=False)


class _MesoHead(nn.Module):
    """What both networks share: the pools, activations and the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.leakyrelu = nn.LeakyReLU(0.1)
        self.maxpooling1 = nn.MaxPool2d(kernel_size=(2, 2))
        self.maxpooling2 = nn.MaxPool2d(kernel_size=(4, 4))
        self.dropout = nn.Dropout(0.5)  # DeepfakeBench's Dropout2d on (N, 1024): the same, and off in eval
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 2)

    def step(self, conv_: nn.Module, bn: nn.Module, pool: nn.Module, x: Tensor) -> Tensor:
        return pool(bn(self.relu(conv_(x))))

    def classifier(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        return self.fc2(self.dropout(self.leakyrelu(self.fc1(self.dropout(x)))))


class Meso4Net(_MesoHead):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = conv(8, 8, 5, padding=2), nn.BatchNorm2d(16)
        self.conv3, self.conv4 = conv(8, 16, 5, padding=2), conv(16, 16, 5, padding=2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.step(self.conv1, self.bn1, self.maxpooling1, x)
        x = self.step(self.conv2, self.bn1, self.maxpooling1, x)  # bn1 again
        x = self.step(self.conv3, self.bn2, self.maxpooling1, x)
        x = self.step(self.conv4, self.bn2, self.maxpooling2, x)  # bn2 again
        return self.classifier(x)


class MesoInception4Net(_MesoHead):
    def __init__(self) -> None:
        super().__init__()
        for layer, cin, widths in ((1, 3, (1, 4, 4, 2)), (2, 11, (2, 4, 4, 2))):
            a, b, c, d = widths
            p = f"Incption{layer}_"
            self.add_module(p + "conv1", conv(cin, a, 1))
            self.add_module(p + "conv2_1", conv(cin, b, 1))
            self.add_module(p + "conv2_2", conv(b, b, 3, padding=1))
            self.add_module(p + "conv3_1", conv(cin, c, 1))
            self.add_module(p + "conv3_2", conv(c, c, 3, padding=2, dilation=2))
            self.add_module(p + "conv4_1", conv(cin, d, 1))
            self.add_module(p + "conv4_2", conv(d, d, 3, padding=3, dilation=3))
            self.add_module(p + "bn", nn.BatchNorm2d(a + b + c + d))
        self.conv1, self.bn1 = conv(12, 16, 5, padding=2), nn.BatchNorm2d(16)
        self.conv2 = conv(16, 16, 5, padding=2)

    def inception(self, layer: int, x: Tensor) -> Tensor:
        m = {name.removeprefix(f"Incption{layer}_"): mod for name, mod in self.named_children()
             if name.startswith(f"Incption{layer}_")}
        y = torch.cat([m["conv1"](x), m["conv2_2"](m["conv2_1"](x)), m["conv3_2"](m["conv3_1"](x)),
                       m["conv4_2"](m["conv4_1"](x))], dim=1)
        return self.maxpooling1(m["bn"](y))

    def forward(self, x: Tensor) -> Tensor:
        x = self.inception(2, self.inception(1, x))
        x = self.step(self.conv1, self.bn1, self.maxpooling1, x)
        x = self.step(self.conv2, self.bn1, self.maxpooling2, x)  # bn1 again
        return self.classifier(x)


class DeepfakeBenchMeso4(PublicDetector):
    layout = MESO4

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size)
        self.backbone: nn.Module = Meso4Net()

    def raw(self, z: Tensor) -> Tensor:
        return self.backbone(z)


class DeepfakeBenchMesoInception4(DeepfakeBenchMeso4):
    layout = MESO_INCEPTION4

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        PublicDetector.__init__(self, input_size)
        self.backbone = MesoInception4Net()


@register_detector("deepfakebench_meso4")
def deepfakebench_meso4(input_size: tuple[int, int] | None = None) -> DeepfakeBenchMeso4:
    return DeepfakeBenchMeso4(input_size)


@register_detector("deepfakebench_meso4inception")
def deepfakebench_meso4inception(input_size: tuple[int, int] | None = None) -> DeepfakeBenchMesoInception4:
    return DeepfakeBenchMesoInception4(input_size)
