"""resnext_lstm: ResNeXt-50 (32x4d) with spatial attention -> bidirectional LSTM (Ram T et al. 2025).

Per frame, ResNeXt-50's last feature map goes through a spatial attention layer (a 1x1 conv
giving a softmax weight per position) and is pooled by those weights. A CNN head scores each
frame; a BiLSTM (256 hidden) reads the frame features and an LSTM head scores the clip. The
two scores are fused as the paper does: ``p = 0.6 * mean_t sigmoid(cnn_t) + 0.4 * sigmoid(lstm)``.
The attention map is exposed for Grad-CAM-style inspection (:attr:`last_attention`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._lstm import AttackableLSTM
from .base import Detector, register_detector


class SpatialAttention(nn.Module):
    """``(B, C, h, w)`` -> attention-weighted sum over positions ``(B, C)`` and the map ``(B, h, w)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.score = nn.Conv2d(channels, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        weights = self.score(x).view(b, h * w).softmax(dim=1)
        pooled = torch.bmm(x.view(b, c, h * w), weights[:, :, None])[:, :, 0]
        return pooled, weights.view(b, h, w)


class ResNeXtLstm(Detector):
    """``(N, T, 3, H, W)`` -> fused P(fake) -> ``(N, 2)`` logits ``[log(1 - p), log p]``."""

    modality = "video"
    cnn_weight = 0.6  # the paper's fusion weights: CNN 0.6, LSTM 0.4

    def __init__(self, input_size: tuple[int, int] = (224, 224), hidden: int = 256, dropout: float = 0.3) -> None:
        from torchvision.models import resnext50_32x4d

        super().__init__(input_size)
        trunk = resnext50_32x4d(weights=None)
        self.cnn = nn.Sequential(*list(trunk.children())[:-2])  # up to layer4: (B, 2048, h, w)
        self.attention = SpatialAttention(2048)
        self.frame_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2048, 1))
        self.lstm = AttackableLSTM(2048, hidden, batch_first=True, bidirectional=True)
        self.clip_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, 1))
        self.last_attention: Tensor | None = None

    def classify(self, z: Tensor) -> Tensor:
        n, t = z.shape[:2]
        pooled, attention = self.attention(self.cnn(z.flatten(0, 1)))
        self.last_attention = attention.detach().view(n, t, *attention.shape[1:])
        frame = self.frame_head(pooled).view(n, t)  # per-frame fake logits
        out, _ = self.lstm(pooled.view(n, t, -1))
        clip = self.clip_head(out.mean(dim=1))[:, 0]  # the clip's fake logit
        return torch.stack([self._fused_log(-frame, -clip), self._fused_log(frame, clip)], dim=1)

    def _fused_log(self, frame: Tensor, clip: Tensor) -> Tensor:
        """``log(0.6 mean_t sigmoid(frame_t) + 0.4 sigmoid(clip))`` in log space (no rounding to 0 or 1)."""
        t = frame.shape[1]
        cnn = math.log(self.cnn_weight) + torch.logsumexp(F.logsigmoid(frame), dim=1) - math.log(t)
        lstm = math.log(1 - self.cnn_weight) + F.logsigmoid(clip)
        return torch.logaddexp(cnn, lstm)


@register_detector("resnext_lstm")
def resnext_lstm(input_size: tuple[int, int] = (224, 224), **kwargs) -> ResNeXtLstm:
    return ResNeXtLstm(input_size=input_size, **kwargs)
