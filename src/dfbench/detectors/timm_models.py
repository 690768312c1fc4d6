"""The field's image baselines built from timm, trained from scratch (no weights are fetched).

- ``xception``: XceptionNet (Chollet, CVPR 2017), the FaceForensics++ baseline (Rössler et al.
  2019); timm's ``legacy_xception`` is the original architecture the FF++ code uses.
- ``efficientnet_b4``: EfficientNet-B4 (Tan & Le 2019), the backbone of the DFDC winner (Seferbekov).

A single fake-logit head (``num_classes=1``) adapted to two logits. For real use, pass the
weights of a model trained elsewhere with ``weights = "file.safetensors"`` in a grid.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Detector, register_detector


class TimmDetector(Detector):
    """A timm classifier with one output logit. Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)``."""

    def __init__(self, arch: str, input_size: tuple[int, int], mean: tuple[float, float, float],
                 std: tuple[float, float, float], **timm_kwargs) -> None:
        import timm

        super().__init__(input_size, mean, std)
        self.net: nn.Module = timm.create_model(arch, pretrained=False, num_classes=1, **timm_kwargs)

    def classify(self, z: Tensor) -> Tensor:
        return self.two_logits(self.net(z))


@register_detector("xception")
def xception(input_size: tuple[int, int] = (299, 299), **timm_kwargs) -> TimmDetector:
    return TimmDetector("legacy_xception", input_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), **timm_kwargs)


@register_detector("efficientnet_b4")
def efficientnet_b4(input_size: tuple[int, int] = (380, 380), **timm_kwargs) -> TimmDetector:
    from .base import IMAGENET_MEAN, IMAGENET_STD

    return TimmDetector("efficientnet_b4", input_size, IMAGENET_MEAN, IMAGENET_STD, **timm_kwargs)
