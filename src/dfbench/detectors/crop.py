"""torchvision's ``CenterCrop`` as a differentiable op on a Detector's normalized input."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def center_crop(z: Tensor, size: tuple[int, int], fill: Tensor | None = None, floor: bool = False) -> Tensor:
    """The middle ``size`` of ``z`` (``(..., C, H, W)``), padded where the input is smaller. torchvision
    pads black pixels before normalizing: on normalized input pass ``fill`` = -mean / std ``(C, 1, 1)``.
    Offsets round as torchvision's ``CenterCrop`` does, or (``floor``) as transformers' ``center_crop``."""
    h, w = z.shape[-2:]
    th, tw = size
    if th > h or tw > w:
        ph, pw = max(th - h, 0), max(tw - w, 0)
        pad = (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2)
        z = F.pad(z, pad)
        if fill is not None:
            inside = F.pad(z.new_ones(h, w), pad)
            z = z + (1 - inside) * fill
        h, w = z.shape[-2:]
    top, left = ((h - th) // 2, (w - tw) // 2) if floor else (int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)))
    return z[..., top:top + th, left:left + tw]
