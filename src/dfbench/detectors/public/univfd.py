"""UnivFD (Ojha, Li & Lee, "Towards Universal Fake Image Detectors that Generalize Across Generative
Models", CVPR 2023; ``models/clip_models.py``).

A frozen CLIP ViT-L/14 image tower (``encode_image``: the 768-d projected class token, not
normalized) and a linear probe ``fc`` (768 -> 1) released as ``fc_weights.pth`` (``{"weight":
[1, 768], "bias": [1]}``). ``validate.py``: centre crop 224 (no resize), CLIP mean/std; sigmoid = fake.

OpenAI's ``ViT-L-14.pt`` (sha256 b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836, the
folder of its URL) is a TorchScript archive: dfbench never loads it (its code would run).
Convert it once in your own CLIP environment (``pip install git+https://github.com/openai/CLIP``)::

    import clip, torch
    from safetensors.torch import save_file
    model, _ = clip.load("ViT-L/14", device="cpu", jit=False)      # fp32 on the CPU
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k.startswith("visual.")}
    save_file(state, "univfd_clip_vitl14.safetensors")

and keep UnivFD's ``fc_weights.pth`` beside it (read with ``weights_only=True``), or add its two
tensors as ``fc.weight`` / ``fc.bias`` to the same file.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..base import register_detector
from ..crop import center_crop
from .base import PublicDetector
from .clip_vit import VisionTransformer
from .layout import Head, Layout, Release, declare

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LAYOUT = declare(Layout(
    name="univfd_clip_vitl14", project="UnivFD (Ojha et al., CVPR 2023)", input_size=224, mean=CLIP_MEAN,
    std=CLIP_STD, fake_index=1, head=Head.ONE_LOGIT, root="visual.",
    architecture="CLIP ViT-L/14 image tower (frozen) + linear probe fc 768 -> 1",
    trained_on="ProGAN (20 LSUN classes); only the probe is trained",
    preprocessing="centre crop 224 (no resize; smaller images are zero-padded), CLIP mean/std",
    face_crop="none: whole images", video="image level",
    weights="OpenAI's ViT-L-14.pt converted to safetensors (see univfd.py) + UnivFD's fc_weights.pth beside it",
    releases=(Release("univfd_clip_vitl14.safetensors"),),  # OpenAI's ViT-L-14.pt is TorchScript: converted first
    signature=(("visual.conv1.weight", (1024, 3, 14, 14)), ("visual.proj", (1024, 768))),
    companions=(("fc.", "fc_weights.pth"),)))


class UnivFDClipViTL14(PublicDetector):
    """Shape: ``(N, 3, H, W)``, H, W >= 224 or zero-padded -> one logit. ``width`` / ``layers`` / ``heads``
    / ``patch`` / ``resolution`` default to ViT-L/14's (smaller ones serve tests)."""

    layout = LAYOUT

    def __init__(self, input_size: tuple[int, int] | None = None, resolution: int = 224, patch: int = 14,
                 width: int = 1024, layers: int = 24, heads: int = 16) -> None:
        super().__init__(input_size)
        self.resolution = resolution
        self.visual = VisionTransformer(resolution, patch, width, layers, heads, output_dim=768)
        self.fc = nn.Linear(768, 1)

    def raw(self, z: Tensor) -> Tensor:
        return self.fc(self.visual(center_crop(z, (self.resolution, self.resolution), -self.mean / self.std)))


@register_detector("univfd_clip_vitl14")
def univfd_clip_vitl14(input_size: tuple[int, int] | None = None, resolution: int = 224, patch: int = 14,
                       width: int = 1024, layers: int = 24, heads: int = 16) -> UnivFDClipViTL14:
    return UnivFDClipViTL14(input_size, resolution, patch, width, layers, heads)
