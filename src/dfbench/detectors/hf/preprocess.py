"""A ``preprocessor_config.json`` as differentiable torch ops, so epsilons stay in [0, 1] pixel space.

transformers' image processors resize, centre-crop, rescale and normalize an image before the
model sees it. dfbench feeds RGB in [0, 1]; the Detector applies the same steps as torch ops
inside its forward, where the attack's gradient flows through them:

- resize (``size``: ``{"height", "width"}``, or ``{"shortest_edge"}`` keeping the aspect; ConvNeXt's
  ``crop_pct`` below 384 px) with the processor's ``resample`` (bilinear or bicubic, antialiased
  as PIL and torchvision's processors are) or nearest;
- centre crop (``crop_size``);
- rescale and normalize: transformers computes ``(pixel * rescale_factor - mean) / std`` on 0-255
  pixels; on x = pixel / 255 that is ``(x - mean') / std'`` with mean' = mean / (255 r), std' =
  std / (255 r), the Detector's own normalization.

Resize and crop are linear with weights summing to one, so they commute with that affine
normalization: the order the Detector applies them in changes nothing (a crop larger than the
image pads black pixels, -mean / std once normalized).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from ...errors import ConfigError
from ..crop import center_crop

RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL's codes, as processors store them


@dataclass(frozen=True)
class Preprocess:
    """The steps of one processor config. ``resize``: (H, W), or (s, 0) for shortest edge s."""

    resize: tuple[int, int] | None
    mode: str
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def output_size(self) -> tuple[int, int] | None:
        """The model's input size when it is fixed (a crop or an (H, W) resize), else None."""
        return self.crop or (self.resize if self.resize and self.resize[1] else None)

    def __call__(self, x: Tensor, fill: Tensor | None = None) -> Tensor:
        """``(N, 3, H, W)`` -> ``(N, 3, H', W')``: resize then centre crop, padding with ``fill`` (black on
        normalized input) where the image is smaller than the crop."""
        if self.resize is not None:
            h, w = x.shape[-2:]
            if self.resize[1]:
                size = self.resize
            else:  # shortest edge, aspect kept (transformers' get_resize_output_image_size)
                s = self.resize[0]
                size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
            if (h, w) != tuple(size):
                kw: dict[str, Any] = {} if self.mode == "nearest" else {"antialias": True, "align_corners": False}
                x = F.interpolate(x, size=size, mode=self.mode, **kw)
        if self.crop is not None:
            x = center_crop(x, self.crop, fill, floor=True)  # transformers' offsets: (h - th) // 2
        return x


# The processor classes whose steps dfbench reproduces (each checked against the real one in the tests or by
# reading it): resize, centre crop, rescale, normalize and nothing else. Others (EfficientNet's second
# normalization, MobileViT's BGR flip, LeViT's scaled shortest edge, PoolFormer's crop_pct) are refused.
SUPPORTED = ("ViTImageProcessor", "DeiTImageProcessor", "BeitImageProcessor", "SiglipImageProcessor",
             "CLIPImageProcessor", "ConvNextImageProcessor")
PIXEL_CHANGING = ("include_top", "do_flip_channel_order", "do_pad", "rescale_offset")  # refused when on


def _size(value: Any, where: str, key: str) -> tuple[int, int] | tuple[int, int, str]:
    """(H, W) of ``{"height", "width"}``, or (S, 0, "shortest_edge"); transformers' own reading of the config."""
    if value is not None and not isinstance(value, dict):  # a SizeDict (transformers 5) or a dict
        value = {k: getattr(value, k) for k in ("height", "width", "shortest_edge", "longest_edge")
                 if getattr(value, k, None) is not None}
    if isinstance(value, dict):
        if set(value) == {"height", "width"} and all(_positive_int(v) for v in value.values()):
            return value["height"], value["width"]
        if set(value) == {"shortest_edge"} and _positive_int(value["shortest_edge"]):
            return value["shortest_edge"], 0, "shortest_edge"
    raise ConfigError(f"{where}: preprocessor_config.json {key} = {value!r} is not a size dfbench reads "
                      "({'height': H, 'width': W} or {'shortest_edge': S})")


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(value: Any, where: str, key: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low < value <= high:
        raise ConfigError(f"{where}: preprocessor_config.json {key} = {value!r} is not a number in ({low}, {high}]")
    return float(value)


def _three(value: Any, where: str, key: str, positive: bool) -> tuple[float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ConfigError(f"{where}: preprocessor_config.json {key} = {value!r} is not three numbers (R, G, B)")
    return tuple(_number(v, where, key, 0.0 if positive else -math.inf) for v in value)  # type: ignore[return-value]


def kind(name: str) -> str:
    """``ViTImageProcessorFast`` / ``ViTFeatureExtractor`` -> ``ViTImageProcessor``."""
    return name.removesuffix("Fast").replace("FeatureExtractor", "ImageProcessor")


def parse(processor: Any, where: str) -> Preprocess:
    """The :class:`Preprocess` of a transformers image processor (built from the folder's config by
    transformers itself, so its class defaults and its reading of the config apply)."""
    name = kind(type(processor).__name__)
    if name not in SUPPORTED:
        raise ConfigError(f"{where}: its image processor {name} has steps dfbench does not reproduce (supported: "
                          f"{', '.join(SUPPORTED)})")
    on = [k for k in PIXEL_CHANGING if getattr(processor, k, None)]
    crop_pct = getattr(processor, "crop_pct", None)
    if on or (crop_pct is not None and name != "ConvNextImageProcessor"):
        raise ConfigError(f"{where}: preprocessor_config.json turns on {', '.join(on) or 'crop_pct'}, a step dfbench "
                          "does not reproduce")
    resize = crop = None
    mode = "bilinear"
    if getattr(processor, "do_resize", False):
        size = _size(processor.size, where, "size")
        resample = int(processor.resample)
        if resample not in RESAMPLE:
            raise ConfigError(f"{where}: preprocessor_config.json resample = {resample!r} is not one dfbench "
                              f"applies ({', '.join(f'{k} ({v})' for k, v in RESAMPLE.items())})")
        mode = RESAMPLE[resample]
        if name == "ConvNextImageProcessor" and len(size) == 3:
            s = size[0]  # ConvNeXt: below 384, resize the short side to s / crop_pct, then crop s x s
            pct = _number(crop_pct, where, "crop_pct", 0.0, 1.0)
            resize, crop = ((int(s / pct), 0), (s, s)) if s < 384 else ((s, s), None)
        else:
            resize = (size[0], size[1])
    if getattr(processor, "do_center_crop", False):
        c = _size(processor.crop_size, where, "crop_size")
        crop = (c[0], c[0]) if len(c) == 3 else (c[0], c[1])
    r = _number(processor.rescale_factor, where, "rescale_factor") if getattr(processor, "do_rescale", False) else 1.0
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if getattr(processor, "do_normalize", False):
        mean = _three(processor.image_mean, where, "image_mean", positive=False)
        std = _three(processor.image_std, where, "image_std", positive=True)
    scale = 255.0 * r  # x in [0, 1] is pixel / 255
    return Preprocess(resize, mode, crop, (mean[0] / scale, mean[1] / scale, mean[2] / scale),
                      (std[0] / scale, std[1] / scale, std[2] / scale))
