"""FaceForensics++'s Xception (Rössler et al., ICCV 2019; ``classification/network/models.py``).

The official ``all_c23.p`` (and the other ``.p`` files) are whole pickled models: dfbench refuses
them, never unpickles them. Convert one once, in your own FaceForensics++ environment::

    import torch
    from safetensors.torch import save_file
    model = torch.load("all_c23.p", map_location="cpu")     # their code, their environment
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, "ffpp_xception_c23.safetensors")

The state dict is ``TransferModel``'s: ``model.`` + Cadene's Xception, whose keys and layers
timm's ``legacy_xception`` shares, with ``last_linear`` (2048 -> 2; ``last_linear.1.`` when
trained with a dropout head). 299 px, mean = std = 0.5, softmax[:, 1] = fake.
"""

from __future__ import annotations

from torch import Tensor

from ..base import register_detector
from .base import PublicDetector
from .layout import Head, Layout, declare
from .xception import xception_logits, xception_with_last_linear

LAYOUT = declare(Layout(
    architecture="Xception (Cadene's port), last_linear 2048 -> 2", trained_on="FaceForensics++ (all methods, c23)",
    preprocessing="dlib face box enlarged 1.3x, resized to 299, mean = std = 0.5",
    signature=(("model.conv1.weight", (32, 3, 3, 3)), ("model.last_linear.weight", (2, 2048))),
    name="ffpp_xception", project="FaceForensics++ (Rössler et al., ICCV 2019)", input_size=299,
    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), fake_index=1, head=Head.TWO_LOGITS, root="model.",
    renames=(("model.last_linear.1.", "model.last_linear."),),
    face_crop="dlib face box enlarged 1.3x, 299 px (detect_from_video.py)", video="frame level",
    weights="FaceForensics++'s released models (a pickled whole model: convert it, see above)"))


class FFppXception(PublicDetector):
    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size)
        self.model = xception_with_last_linear()

    def raw(self, z: Tensor) -> Tensor:
        return xception_logits(self.model, z)


@register_detector("ffpp_xception")
def ffpp_xception(input_size: tuple[int, int] | None = None) -> FFppXception:
    return FFppXception(input_size)
