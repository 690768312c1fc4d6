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


class Bottleneck(nn.Module):
    """CNNDetection's and NPR's ``networks/resnet.py`` Bottleneck: the stride in the 3x3 ``conv2``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """``resnet50(num_classes=1)`` of CNNDetection (``npr=True``: NPR's, cut after layer2 with a 3x3 stem)."""

    def __init__(self, layers=(3, 4, 6, 3), num_classes: int = 1, npr: bool = False) -> None:
        super().__init__()
        self.inplanes, self.npr = 64, npr
        self.conv1 = (nn.Conv2d(3, 64, 3, 2, 1, bias=False) if npr else nn.Conv2d(3, 64, 7, 2, 3, bias=False))
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        if not npr:
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if npr:
            self.fc1 = nn.Linear(512, num_classes)
        else:
            self.fc = nn.Linear(2048, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def interpolate(self, img, factor):  # NPR's, verbatim
        return F.interpolate(F.interpolate(img, scale_factor=factor, mode="nearest", recompute_scale_factor=True),
                             scale_factor=1 / factor, mode="nearest", recompute_scale_factor=True)

    def forward(self, x):
        if self.npr:
            x = self.conv1((x - self.interpolate(x, 0.5)) * 2.0 / 3.0)
        else:
            x = self.conv1(x)
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(x)))))
        if not self.npr:
            x = self.layer4(self.layer3(x))
        x = self.avgpool(x).view(x.size(0), -1)
        return self.fc1(x) if self.npr else self.fc(x)


def cnndetection_resnet50() -> nn.Module:
    return ResNet()


def npr_resnet50() -> nn.Module:
    return ResNet(npr=True)


class Meso4(nn.Module):
    """DeepfakeBench's ``networks/mesonet.py`` Meso4, transcribed: ReLU then BN, bn1 / bn2 reused."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.leakyrelu = nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(8, 8, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(8, 16, 5, padding=2, bias=False)
        self.conv4 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
        self.maxpooling1 = nn.MaxPool2d(kernel_size=(2, 2))
        self.maxpooling2 = nn.MaxPool2d(kernel_size=(4, 4))
        self.dropout = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 2)

    def features(self, x):
        x = self.maxpooling1(self.bn1(self.relu(self.conv1(x))))
        x = self.maxpooling1(self.bn1(self.relu(self.conv2(x))))
        x = self.maxpooling1(self.bn2(self.relu(self.conv3(x))))
        x = self.maxpooling2(self.bn2(self.relu(self.conv4(x))))
        return x.view(x.size(0), -1)

    def classifier(self, feature):
        return self.fc2(self.dropout(self.leakyrelu(self.fc1(self.dropout(feature)))))

    def forward(self, x):
        return self.classifier(self.features(x))


class MesoInception4(Meso4):
    """DeepfakeBench's MesoInception4, transcribed (the Meso4 head and pools, its own layers)."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("conv1", "bn1", "conv2", "bn2", "conv3", "conv4"):
            delattr(self, name)
        self.Incption1_conv1 = nn.Conv2d(3, 1, 1, padding=0, bias=False)
        self.Incption1_conv2_1 = nn.Conv2d(3, 4, 1, padding=0, bias=False)
        self.Incption1_conv2_2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.Incption1_conv3_1 = nn.Conv2d(3, 4, 1, padding=0, bias=False)
        self.Incption1_conv3_2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, bias=False)
        self.Incption1_conv4_1 = nn.Conv2d(3, 2, 1, padding=0, bias=False)
        self.Incption1_conv4_2 = nn.Conv2d(2, 2, 3, padding=3, dilation=3, bias=False)
        self.Incption1_bn = nn.BatchNorm2d(11)
        self.Incption2_conv1 = nn.Conv2d(11, 2, 1, padding=0, bias=False)
        self.Incption2_conv2_1 = nn.Conv2d(11, 4, 1, padding=0, bias=False)
        self.Incption2_conv2_2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.Incption2_conv3_1 = nn.Conv2d(11, 4, 1, padding=0, bias=False)
        self.Incption2_conv3_2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, bias=False)
        self.Incption2_conv4_1 = nn.Conv2d(11, 2, 1, padding=0, bias=False)
        self.Incption2_conv4_2 = nn.Conv2d(2, 2, 3, padding=3, dilation=3, bias=False)
        self.Incption2_bn = nn.BatchNorm2d(12)
        self.conv1 = nn.Conv2d(12, 16, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 5, padding=2, bias=False)

    def inception(self, i, x):
        c = {n: getattr(self, f"Incption{i}_{n}") for n in ("conv1", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                                                            "conv4_1", "conv4_2", "bn")}
        y = torch.cat((c["conv1"](x), c["conv2_2"](c["conv2_1"](x)), c["conv3_2"](c["conv3_1"](x)),
                       c["conv4_2"](c["conv4_1"](x))), 1)
        return self.maxpooling1(c["bn"](y))

    def features(self, x):
        x = self.inception(2, self.inception(1, x))
        x = self.maxpooling1(self.bn1(self.relu(self.conv1(x))))
        x = self.maxpooling2(self.bn1(self.relu(self.conv2(x))))
        return x.view(x.size(0), -1)


def deepfakebench_meso4() -> Holder:
    return Holder("backbone", Meso4(), lambda self, x: self.backbone(x))


def deepfakebench_meso4inception() -> Holder:
    return Holder("backbone", MesoInception4(), lambda self, x: self.backbone(x))


def deepfakebench_core() -> Holder:
    return deepfakebench_xception()


def deepfakebench_spsl() -> Holder:
    """SPSL: Xception with a 4-channel conv1 on [image, phase_without_amplitude(image)] (spsl_detector.py)."""
    net = Xception(adjust_channel=True)
    net.conv1 = nn.Conv2d(4, 32, 3, 2, 0, bias=False)

    def phase_without_amplitude(img):
        gray_img = torch.mean(img, dim=1, keepdim=True)
        X = torch.fft.fftn(gray_img, dim=(-1, -2))
        phase_spectrum = torch.angle(X)
        reconstructed_X = torch.exp(1j * phase_spectrum)
        return torch.real(torch.fft.ifftn(reconstructed_X, dim=(-1, -2)))

    return Holder("backbone", net, lambda self, x: self.backbone(torch.cat((x, phase_without_amplitude(x)), dim=1)))


class UnivFD(nn.Module):
    """UnivFD's ``CLIPModel`` with transformers' CLIP image tower as the reference implementation:
    ``fc(image_embeds)``. :meth:`openai_state` writes the weights under OpenAI's key names, by the
    mapping of transformers' own ``convert_clip_original_pytorch_to_hf.py``, reversed."""

    def __init__(self, width=64, layers=2, heads=2, patch=14, resolution=28) -> None:
        super().__init__()
        import transformers

        config = transformers.CLIPVisionConfig(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                                               num_attention_heads=heads, patch_size=patch, image_size=resolution,
                                               projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5)
        self.clip = transformers.CLIPVisionModelWithProjection(config)
        self.fc = nn.Linear(768, 1)
        self.resolution = resolution

    def forward(self, x):
        from torchvision.transforms.functional import center_crop

        return self.fc(self.clip(pixel_values=center_crop(x, [self.resolution])).image_embeds)

    def openai_state(self) -> dict[str, torch.Tensor]:
        hf = {k: v for k, v in self.clip.state_dict().items()}
        v = "vision_model."
        out = {"visual.conv1.weight": hf[v + "embeddings.patch_embedding.weight"],
               "visual.class_embedding": hf[v + "embeddings.class_embedding"],
               "visual.positional_embedding": hf[v + "embeddings.position_embedding.weight"],
               "visual.proj": hf["visual_projection.weight"].T}
        for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
            for p in ("weight", "bias"):
                out[f"visual.{ours}.{p}"] = hf[f"{v}{theirs}.{p}"]
        n = sum(1 for k in hf if k.endswith("self_attn.q_proj.weight"))
        for i in range(n):
            a, b = f"visual.transformer.resblocks.{i}.", f"{v}encoder.layers.{i}."
            for p in ("weight", "bias"):
                out[f"{a}attn.in_proj_{p}"] = torch.cat([hf[f"{b}self_attn.{q}_proj.{p}"] for q in "qkv"])
                out[f"{a}attn.out_proj.{p}"] = hf[f"{b}self_attn.out_proj.{p}"]
                out[f"{a}ln_1.{p}"], out[f"{a}ln_2.{p}"] = hf[f"{b}layer_norm1.{p}"], hf[f"{b}layer_norm2.{p}"]
                out[f"{a}mlp.c_fc.{p}"], out[f"{a}mlp.c_proj.{p}"] = hf[f"{b}mlp.fc1.{p}"], hf[f"{b}mlp.fc2.{p}"]
        return {k: t.contiguous() for k, t in out.items()}


def deepfakebench_f3net() -> nn.Module:
    """F3Net as ``f3net_detector.py`` builds it: FAD_Head (its DCT_mat / generate_filter, in numpy as there)
    and an Xception with a 12-channel conv1 and the dropout head; random band offsets (``learnable``)."""
    import numpy as np

    def dct_mat(size):
        return [[(np.sqrt(1. / size) if i == 0 else np.sqrt(2. / size)) * np.cos((j + 0.5) * np.pi * i / size)
                 for j in range(size)] for i in range(size)]

    def generate_filter(start, end, size):
        return [[0. if i + j > end or i + j < start else 1. for j in range(size)] for i in range(size)]

    class Filter(nn.Module):
        def __init__(self, size, band_start, band_end):
            super().__init__()
            self.base = nn.Parameter(torch.tensor(generate_filter(band_start, band_end, size)), requires_grad=False)
            self.learnable = nn.Parameter(torch.randn(size, size), requires_grad=True)

        def forward(self, x):
            return x * (self.base + (2. * torch.sigmoid(self.learnable) - 1.))

    class FADHead(nn.Module):
        def __init__(self, size):
            super().__init__()
            self._DCT_all = nn.Parameter(torch.tensor(dct_mat(size)).float(), requires_grad=False)
            self._DCT_all_T = nn.Parameter(torch.transpose(torch.tensor(dct_mat(size)).float(), 0, 1),
                                           requires_grad=False)
            self.filters = nn.ModuleList([Filter(size, 0, size // 2.82), Filter(size, size // 2.82, size // 2),
                                          Filter(size, size // 2, size * 2), Filter(size, 0, size * 2)])

        def forward(self, x):
            x_freq = self._DCT_all @ x @ self._DCT_all_T
            return torch.cat([self._DCT_all_T @ self.filters[i](x_freq) @ self._DCT_all for i in range(4)], dim=1)

    class F3Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Xception(adjust_channel=True, dropout=0.5)
            self.backbone.conv1 = nn.Conv2d(12, 32, 3, 2, 0, bias=False)
            self.FAD_head = FADHead(256)

        def forward(self, x):
            return self.backbone(self.FAD_head(x))

    return F3Net()
