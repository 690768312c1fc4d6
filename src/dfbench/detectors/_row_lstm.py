"""An LSTM that reads a feature map row by row (shared by the CNN-LSTM detectors)."""

from __future__ import annotations

from torch import Tensor, nn

from ._lstm import AttackableLSTM


class RowLSTM(nn.Module):
    """LSTM over the rows of a feature map; its output is added back to every pixel of its row.

    Shape: ``(N, C, H, W)`` -> ``(N, C, H, W)``; the sequence is the ``H`` rows, each row
    summarised by its mean over ``W``.
    """

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = AttackableLSTM(channels, channels, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, f: Tensor) -> Tensor:
        seq = f.mean(dim=3).transpose(1, 2)  # (N, H, C)
        out, _ = self.lstm(seq)  # AttackableLSTM: input gradients in eval mode on CUDA too
        return f + self.dropout(out).transpose(1, 2).unsqueeze(3)
