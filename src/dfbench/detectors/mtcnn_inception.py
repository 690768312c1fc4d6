"""mtcnn_inception: MTCNN face crop -> InceptionResnetV1 -> classifier (the FGSM-robustness seed
paper's face pipeline; Schroff et al. 2015 FaceNet backbone from facenet-pytorch).

The MTCNN crop is the data pipeline's step (``faces = "mtcnn"``, :mod:`dfbench.data.faces`),
so this detector takes face crops. InceptionResnetV1 needs at least 80x80 pixels, and facenet
crops are 160x160: smaller inputs are resized (bilinear, differentiable) to ``net_size``.
Trained from scratch here; VGGFace2 weights cannot be downloaded on these machines.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DfbenchError
from .base import Detector, register_detector


class MtcnnInception(Detector):
    """Crop ``(N, 3, H, W)`` in [0, 1] -> InceptionResnetV1 embedding (512) -> FC 1 -> ``(N, 2)``.

    Normalized as facenet-pytorch's ``fixed_image_standardization``: ``(255 x - 127.5) / 128``.
    """

    def __init__(self, input_size: tuple[int, int] = (160, 160), net_size: int | None = None,
                 dropout: float = 0.6) -> None:
        super().__init__(input_size, mean=(0.5, 0.5, 0.5), std=(128 / 255,) * 3)
        try:
            from facenet_pytorch import InceptionResnetV1
        except ImportError:
            raise DfbenchError("mtcnn_inception needs facenet-pytorch: pip install --no-deps "
                               "facenet-pytorch==2.6.0 (see the README)") from None
        self.net_size = int(net_size or max(80, *input_size))
        if self.net_size < 80:
            raise ValueError(f"InceptionResnetV1 needs net_size >= 80, got {self.net_size}")
        self.backbone = InceptionResnetV1(pretrained=None, classify=False, dropout_prob=dropout)
        self.head = nn.Linear(512, 1)

    def classify(self, z: Tensor) -> Tensor:
        if z.shape[-2:] != (self.net_size, self.net_size):
            z = F.interpolate(z, size=(self.net_size, self.net_size), mode="bilinear", align_corners=False)
        return self.two_logits(self.head(self.backbone(z)))


@register_detector("mtcnn_inception")
def mtcnn_inception(input_size: tuple[int, int] = (160, 160), **kwargs) -> MtcnnInception:
    return MtcnnInception(input_size=input_size, **kwargs)
