"""Reference architectures written from the public projects' own definitions, for the layout tests.

Each builds the model the way its project does and wraps it as the project saves it, so that a
checkpoint written from it has exactly the project's keys, nesting and prefixes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SeparableConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, k, stride, padding, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, 1, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class Block(nn.Module):
    """FaceForensics++ / DeepfakeBench ``Block``: a shared in-place ReLU, grow_first, skip conv."""

    def __init__(self, cin: int, cout: int, reps: int, strides: int = 1, start_with_relu: bool = True,
                 grow_first: bool = True) -> None:
        super().__init__()
        if cout != cin or strides != 1:
            self.skip = nn.Conv2d(cin, cout, 1, stride=strides, bias=False)
            self.skipbn = nn.BatchNorm2d(cout)
        else:
            self.skip = None
        self.relu = nn.ReLU(inplace=True)
        rep: list[nn.Module] = []
        filters = cin
        if grow_first:
            rep += [self.relu, SeparableConv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
            filters = cout
        for _ in range(reps - 1):
            rep += [self.relu, SeparableConv2d(filters, filters, 3, 1, 1), nn.BatchNorm2d(filters)]
        if not grow_first:
            rep += [self.relu, SeparableConv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
        rep = rep[1:] if not start_with_relu else [nn.ReLU(inplace=False), *rep[1:]]
        if strides != 1:
            rep.append(nn.MaxPool2d(3, strides, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, inp):
        x = self.rep(inp)
        skip = self.skipbn(self.skip(inp)) if self.skip is not None else inp
        return x + skip


class Xception(nn.Module):
    """The Xception of FaceForensics++'s network/xception.py and DeepfakeBench's networks/xception.py."""

    def __init__(self, num_classes: int = 2, adjust_channel: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.block1 = Block(64, 128, 2, 2, start_with_relu=False)
        self.block2 = Block(128, 256, 2, 2)
        self.block3 = Block(256, 728, 2, 2)
        for i in range(4, 12):
            setattr(self, f"block{i}", Block(728, 728, 3, 1))
        self.block12 = Block(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(2048)
        self.last_linear = (nn.Sequential(nn.Dropout(dropout), nn.Linear(2048, num_classes)) if dropout
                            else nn.Linear(2048, num_classes))
        if adjust_channel:
            self.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU(inplace=True))

    def features(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = self.relu(self.bn3(self.conv3(x)))
        return self.bn4(self.conv4(x))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.relu(self.features(x)), (1, 1)).view(x.size(0), -1)
        return self.last_linear(x)


class Holder(nn.Module):
    """A project's outer module: its network under one attribute (``backbone``, ``net``, ``model``)."""

    def __init__(self, attribute: str, net: nn.Module, forward) -> None:
        super().__init__()
        setattr(self, attribute, net)
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


def deepfakebench_xception() -> Holder:
    return Holder("backbone", Xception(adjust_channel=True), lambda self, x: self.backbone(x))


def deepfakebench_efficientnetb4() -> Holder:
    from efficientnet_pytorch import EfficientNet

    backbone = nn.Module()
    backbone.efficientnet = EfficientNet.from_name("efficientnet-b4")
    backbone.efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
    backbone.efficientnet._fc = nn.Identity()
    backbone.last_layer = nn.Linear(1792, 2)

    def forward(self, x):
        features = self.backbone.efficientnet.extract_features(x)
        return self.backbone.last_layer(F.adaptive_avg_pool2d(features, (1, 1)).view(x.size(0), -1))

    return Holder("backbone", backbone, forward)


def sbi_efficientnet_b4() -> Holder:
    from efficientnet_pytorch import EfficientNet

    return Holder("net", EfficientNet.from_name("efficientnet-b4", num_classes=2), lambda self, x: self.net(x))


def selimsef_efficientnet_b7() -> nn.Module:
    import timm

    class DeepFakeClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = timm.create_model("tf_efficientnet_b7", pretrained=False, drop_path_rate=0.2)
            self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout(0.0)
            self.fc = nn.Linear(2560, 1)

        def forward(self, x):
            return self.fc(self.dropout(self.avg_pool(self.encoder.forward_features(x)).flatten(1)))

    return DeepFakeClassifier()


def ffpp_xception(dropout: float = 0.0) -> Holder:
    return Holder("model", Xception(dropout=dropout), lambda self, x: self.model(x))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and batch-norm statistics (so that eval-mode BN is not the identity), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif name.endswith("running_mean") or name.endswith("bias"):
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
                elif name.endswith("weight") and t.ndim == 1:
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    fan_in = max(1, t[0].numel()) if t.ndim > 1 else 1
                    t.copy_(torch.randn(t.shape, generator=g) / fan_in ** 0.5)
    return model.eval()
