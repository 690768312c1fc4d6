"""OpenAI CLIP's image tower (Radford et al., ICML 2021; ``clip/model.py`` ``VisionTransformer``),
under OpenAI's key names, for checkpoints converted from their release (UnivFD's backbone).

Patch conv (no bias) -> class token + positional embedding -> ``ln_pre`` -> pre-LN residual
blocks (``nn.MultiheadAttention`` with packed ``in_proj``, QuickGELU MLP) -> ``ln_post`` of the
class token -> ``@ proj``. Shape: ``(N, 3, R, R)`` normalized -> ``(N, output_dim)``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn


class QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:  # (L, N, D), sequence first as nn.MultiheadAttention's default
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """ViT-L/14: ``resolution=224, patch=14, width=1024, layers=24, heads=16, output_dim=768``."""

    def __init__(self, resolution: int = 224, patch: int = 14, width: int = 1024, layers: int = 24,
                 heads: int = 16, output_dim: int = 768) -> None:
        super().__init__()
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x).flatten(2).permute(0, 2, 1)  # (N, grid**2, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype))
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj
