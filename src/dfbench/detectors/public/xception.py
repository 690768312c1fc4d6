"""The Xception that FaceForensics++ and DeepfakeBench share (Chollet 2017, Cadene's port).

timm's ``legacy_xception`` has its layers, paddings and key names (conv1 stride 2 unpadded,
separable convs, blocks ``rep``, skip); the projects' head is ``last_linear`` on the ReLU'd,
globally average-pooled features (timm's ``forward_features`` ends with that ReLU).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn


def xception_with_last_linear(classes: int = 2) -> Any:
    """timm's legacy Xception without its classifier, with the projects' ``last_linear``."""
    import timm  # imported on first use: `import dfbench` stays light

    net: Any = timm.create_model("legacy_xception", pretrained=False, num_classes=0)
    net.last_linear = nn.Linear(2048, classes)
    return net


def xception_logits(net: Any, z: Tensor) -> Tensor:
    """ReLU (the end of ``forward_features``), global average pool, ``last_linear``."""
    return net.last_linear(F.adaptive_avg_pool2d(net.forward_features(z), 1).flatten(1))
