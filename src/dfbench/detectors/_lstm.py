"""An ``nn.LSTM`` whose backward also runs in eval mode on CUDA.

cuDNN's RNN backward refuses eval mode, and attacks need input gradients of a detector in
eval mode; so outside training the LSTM runs without cuDNN (same weights, same numbers).
"""

from __future__ import annotations

import torch
from torch import nn


class AttackableLSTM(nn.LSTM):
    def forward(self, *args, **kwargs):
        with torch.backends.cudnn.flags(enabled=self.training and torch.backends.cudnn.enabled):
            return super().forward(*args, **kwargs)
