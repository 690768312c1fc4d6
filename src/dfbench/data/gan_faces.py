"""`gan_faces` (opt-in): whole-face GAN fakes from MobileStyleGAN against `mini`'s real faces.

In the spirit of the 140k real-vs-fake set (FFHQ reals, StyleGAN fakes): the fakes are entire
faces synthesized by MobileStyleGAN (Belousov 2021, distilled from StyleGAN2 trained on FFHQ),
whose OpenVINO model the `random-face` package ships. The model is read straight from the
package's ``.xml``/``.bin`` files with ``openvino.Core().read_model`` (the package's own loader
uses an OpenVINO API that no longer exists), so nothing is downloaded.

The reals are `mini`'s LFW faces (grey, 25x25). So that colour and resolution do not give the
answer away, each GAN face is centre-cropped to the face, made grey and brought down to 25x25
like the LFW crops; both classes then take the same views and camera step as `mini`. Split
60/20/20 by face on both sides.

**Not a default, and non-commercial**: the MobileStyleGAN weights and anything generated with
them carry the FFHQ / StyleGAN2 research-only terms. Install with
``pip install openvino && pip install --no-deps random-face``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DfbenchError
from .base import ImageDataset, Split, fingerprint, register_dataset
from .fakes import camera, random_affine
from .mini import N_SOURCES, SPLIT_SOURCES, VIEWS_PER_SOURCE, _source_ids, lfw_faces

log = logging.getLogger(__name__)
LFW_SIDE = 25
FACE_BOX = (0.14, 0.88, 0.13, 0.87)  # rows and columns of an FFHQ-aligned image holding the face
TRUNCATION = 0.5


def _model_files() -> tuple[Path, Path, Path, Path]:
    spec = importlib.util.find_spec("random_face")
    if spec is None or spec.origin is None or importlib.util.find_spec("openvino") is None:
        raise DfbenchError("gan_faces is an opt-in extra (non-commercial weights): "
                           "pip install openvino && pip install --no-deps random-face")
    data = Path(spec.origin).parent / "data"
    return (data / "MappingNetwork.xml", data / "MappingNetwork.bin",
            data / "SynthesisNetwork.xml", data / "SynthesisNetwork.bin")


def generate(n: int, seed: int) -> torch.Tensor:
    """``n`` MobileStyleGAN faces as RGB ``(n, 3, 1024, 1024)`` in [0, 1], truncated toward the mean style."""
    import openvino as ov

    m_xml, m_bin, s_xml, s_bin = _model_files()
    core = ov.Core()
    mapping = core.compile_model(core.read_model(m_xml, m_bin), "CPU")
    synthesis = core.compile_model(core.read_model(s_xml, s_bin), "CPU")
    rng = np.random.RandomState(seed)
    mean = np.mean([mapping(rng.normal(size=(1, 512)).astype(np.float32))[0] for _ in range(256)], axis=0)
    faces = []
    for _ in range(n):
        style = mapping(rng.normal(size=(1, 512)).astype(np.float32))[0]
        style = mean + TRUNCATION * (style - mean)
        faces.append(torch.from_numpy(synthesis(style.astype(np.float32))[0][0]))
    return ((torch.stack(faces).clamp(-1, 1) + 1) / 2).float()


def like_lfw(images: torch.Tensor) -> torch.Tensor:
    """Centre face crop, grey, 25x25 (LFW's crop), as ``(N, 1, 25, 25)`` in [0, 1]."""
    _, _, h, w = images.shape
    r0, r1, c0, c1 = FACE_BOX
    face = images[:, :, int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)]
    grey = (0.299 * face[:, 0] + 0.587 * face[:, 1] + 0.114 * face[:, 2])[:, None]
    return F.interpolate(grey, size=(LFW_SIDE, LFW_SIDE), mode="area")


def gan_sources(seed: int, cache_dir: Path) -> torch.Tensor:
    """The 100 GAN faces at 25x25 grey, generated once and cached (safetensors)."""
    from safetensors.torch import load_file, save_file

    digest = hashlib.sha256(b"".join(p.read_bytes()[:1 << 16] for p in _model_files())).hexdigest()[:12]
    path = Path(cache_dir) / f"gan_faces-{digest}-seed{seed}-n{N_SOURCES}.safetensors"
    if path.exists():
        return load_file(path)["faces"]
    log.info("generating %d MobileStyleGAN faces (once; cached in %s)", N_SOURCES, path)
    faces = like_lfw(generate(N_SOURCES, seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"faces": faces.contiguous()}, tmp)
    tmp.replace(path)
    return faces


def _views(faces: torch.Tensor, ids: torch.Tensor, views: int, g: torch.Generator) -> torch.Tensor:
    return random_affine(faces[ids].repeat_interleave(views, 0), g, scale=0.06, shift=0.04, degrees=6, flip=True)


@lru_cache(maxsize=2)
def build_gan_faces(image_size: int, seed: int, cache_dir: str) -> ImageDataset:
    reals = lfw_faces(image_size)
    fakes = F.interpolate(gan_sources(seed, Path(cache_dir)), size=(image_size, image_size), mode="bicubic",
                          align_corners=False).clamp(0, 1)
    real_ids, fake_ids = _source_ids(seed), _source_ids(seed + 1)
    splits = {}
    for index, name in enumerate(SPLIT_SOURCES):
        g = torch.Generator().manual_seed(seed * 1_000_003 + index * 10_007 + 11)
        views = VIEWS_PER_SOURCE[name]
        real, fake = _views(reals, real_ids[name], views, g), _views(fakes, fake_ids[name], views, g)
        images = camera(torch.cat([real, fake]), g)
        labels = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))]).long()
        sources = torch.cat([real_ids[name].repeat_interleave(views),
                             N_SOURCES + fake_ids[name].repeat_interleave(views)])
        perm = torch.randperm(len(labels), generator=g)
        splits[name] = Split(images[perm].contiguous(), labels[perm], sources[perm])
    return ImageDataset("gan_faces", splits, fingerprint(f"gan_faces-v1-{image_size}-{seed}", splits),
                        info={"fakes": "MobileStyleGAN (random-face), non-commercial", "truncation": TRUNCATION})


@register_dataset("gan_faces")
def gan_faces(image_size: int = 64, seed: int = 0, cache_dir: str | None = None) -> ImageDataset:
    from .files import default_crop_cache

    return build_gan_faces(int(image_size), int(seed), str(cache_dir or default_crop_cache()))
