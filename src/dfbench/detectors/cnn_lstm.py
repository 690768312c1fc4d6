"""cnn_lstm: ResNet-18 per frame -> LSTM over frames (the FGSM-robustness seed paper, 2025).

The paper fine-tunes an ImageNet ResNet-18; no weights can be downloaded here, so it trains
from scratch (torchvision's architecture), and a local weights file serves real use.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._lstm import AttackableLSTM
from .base import Detector, register_detector


class CnnLstm(Detector):
    """``(N, T, 3, H, W)`` -> ResNet-18 features (512) per frame -> LSTM(hidden) -> last state -> FC 1.

    Output ``(N, 2)`` logits (single fake logit adapted), one decision per clip.
    """

    modality = "video"

    def __init__(self, input_size: tuple[int, int] = (224, 224), hidden: int = 256, dropout: float = 0.3) -> None:
        from torchvision.models import resnet18

        super().__init__(input_size)
        cnn = resnet18(weights=None)
        cnn.fc = nn.Identity()
        self.cnn = cnn
        self.lstm = AttackableLSTM(512, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1))

    def classify(self, z: Tensor) -> Tensor:
        n, t = z.shape[:2]
        features = self.cnn(z.flatten(0, 1)).view(n, t, -1)
        _, (h, _) = self.lstm(features)
        return self.two_logits(self.head(h[-1]))


@register_detector("cnn_lstm")
def cnn_lstm(input_size: tuple[int, int] = (224, 224), **kwargs) -> CnnLstm:
    return CnnLstm(input_size=input_size, **kwargs)
