"""DeepfakeBench's F3Net (Qian et al., "Thinking in Frequency", ECCV 2020; ``training/detectors/
f3net_detector.py``): the frequency-aware decomposition head (FAD) in front of an Xception.

FAD: the image's 2-D DCT (``D x D^T``, D the orthonormal DCT-II matrix of the 256 px side), masked
by four bands over i + j (low: [0, 256 // 2.82], middle: [256 // 2.82, 128], high: [128, 512],
all) each plus ``2 sigmoid(learnable) - 1``, back with ``D^T y D``: 12 channels into an Xception
whose ``conv1`` takes 12. The DCT matrices and band masks are parameters in the checkpoint (loaded,
not recomputed). Dropout 0.5 head (``last_linear.1.``). 256 px only, mean = std = 0.5,
softmax[:, 1] = fake.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..base import register_detector
from .base import PublicDetector
from .deepfakebench import DeepfakeBenchXception, deepfakebench_layout
from .layout import Release, declare
from .xception import xception_logits

F3NET = declare(deepfakebench_layout(
    name="deepfakebench_f3net", fixed_size=True,
    architecture="FAD head (DCT bands, 12 channels) + Xception, dropout head",
    releases=(Release("f3net_best.pth"),), renames=(("backbone.last_linear.1.", "backbone.last_linear."),),
    signature=(("backbone.conv1.weight", (32, 12, 3, 3)), ("FAD_head._DCT_all", (256, 256))),
    reported=(("FF++ c23 frame AUC", 0.9635), ("Celeb-DF v2 frame AUC", 0.7352))))


def dct_matrix(size: int) -> Tensor:
    """F3Net's ``DCT_mat``: row i, column j = sqrt((1 if i == 0 else 2) / size) cos((j + 0.5) pi i / size)."""
    i, j = torch.arange(size, dtype=torch.float64)[:, None], torch.arange(size, dtype=torch.float64)[None, :]
    scale = torch.where(i == 0, math.sqrt(1.0 / size), math.sqrt(2.0 / size))
    return (scale * torch.cos((j + 0.5) * math.pi * i / size)).float()


def band(size: int, start: float, end: float) -> Tensor:
    """F3Net's ``generate_filter``: 1 where start <= i + j <= end."""
    s = torch.arange(size)[:, None] + torch.arange(size)[None, :]
    return ((s >= start) & (s <= end)).float()


class Filter(nn.Module):
    def __init__(self, size: int, start: float, end: float) -> None:
        super().__init__()
        self.base = nn.Parameter(band(size, start, end), requires_grad=False)
        self.learnable = nn.Parameter(torch.zeros(size, size))

    def forward(self, x: Tensor) -> Tensor:
        return x * (self.base + 2.0 * torch.sigmoid(self.learnable) - 1.0)


class FADHead(nn.Module):
    def __init__(self, size: int = 256) -> None:
        super().__init__()
        self._DCT_all = nn.Parameter(dct_matrix(size), requires_grad=False)
        self._DCT_all_T = nn.Parameter(dct_matrix(size).t().contiguous(), requires_grad=False)
        self.filters = nn.ModuleList([Filter(size, 0, size // 2.82), Filter(size, size // 2.82, size // 2),
                                      Filter(size, size // 2, size * 2), Filter(size, 0, size * 2)])

    def forward(self, x: Tensor) -> Tensor:
        freq = self._DCT_all @ x @ self._DCT_all_T
        return torch.cat([self._DCT_all_T @ f(freq) @ self._DCT_all for f in self.filters], dim=1)


class DeepfakeBenchF3Net(DeepfakeBenchXception):
    layout = F3NET

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size)
        self.backbone.conv1 = nn.Conv2d(12, 32, 3, 2, 0, bias=False)
        self.FAD_head = FADHead(self.layout.input_size)

    def raw(self, z: Tensor) -> Tensor:
        return xception_logits(self.backbone, self.FAD_head(z))


@register_detector("deepfakebench_f3net")
def deepfakebench_f3net(input_size: tuple[int, int] | None = None) -> PublicDetector:
    return DeepfakeBenchF3Net(input_size)
