"""An LSTM that reads a feature map row by row (shared by the CNN-LSTM detectors)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RowLSTM(nn.Module):
    """LSTM over the rows of a feature map; its output is added back to every pixel of its row.

    Shape: ``(N, C, H, W)`` -> ``(N, C, H, W)``; the sequence is the ``H`` rows, each row
    summarised by its mean over ``W``.
    """

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, f: Tensor) -> Tensor:
        seq = f.mean(dim=3).transpose(1, 2)  # (N, H, C)
        # cuDNN's RNN backward refuses eval mode, and attacks need input gradients in eval mode.
        with torch.backends.cudnn.flags(enabled=self.training and torch.backends.cudnn.enabled):
            out, _ = self.lstm(seq)
        return f + self.dropout(out).transpose(1, 2).unsqueeze(3)
