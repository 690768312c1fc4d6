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

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from ...errors import ConfigError
from ..crop import center_crop

RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL's codes, as processors store them
DEFAULT_MEAN, DEFAULT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


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
            x = center_crop(x, self.crop, fill)
        return x


def _size(value: Any, where: str, key: str) -> tuple[int, int] | tuple[int, int, str]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if isinstance(value, dict):
        if set(value) == {"height", "width"} and all(isinstance(v, int) and v > 0 for v in value.values()):
            return value["height"], value["width"]
        if set(value) == {"shortest_edge"} and isinstance(value["shortest_edge"], int) and value["shortest_edge"] > 0:
            return value["shortest_edge"], 0, "shortest_edge"
    raise ConfigError(f"{where}: preprocessor_config.json {key} = {value!r} is not a size dfbench reads "
                      "({'height': H, 'width': W}, {'shortest_edge': S} or an integer)")


def parse(config: dict[str, Any], where: str) -> Preprocess:
    """The :class:`Preprocess` of a ``preprocessor_config.json``'s contents."""
    resize = crop = None
    mode = "bilinear"
    if config.get("do_resize", True) and "size" in config:
        size = _size(config["size"], where, "size")
        resample = config.get("resample", 2)
        if resample not in RESAMPLE:
            raise ConfigError(f"{where}: preprocessor_config.json resample = {resample!r} is not one dfbench "
                              f"applies ({', '.join(f'{k} ({v})' for k, v in RESAMPLE.items())})")
        mode = RESAMPLE[resample]
        crop_pct = config.get("crop_pct")
        if "ConvNext" in str(config.get("image_processor_type", "")) and len(size) == 3 and crop_pct:
            s = size[0]  # ConvNeXt: below 384, resize the short side to s / crop_pct, then crop s x s
            resize, crop = ((int(s / crop_pct), 0), (s, s)) if s < 384 else ((s, s), None)
        else:
            resize = (size[0], size[1])
    if config.get("do_center_crop", False) and "crop_size" in config:
        c = _size(config["crop_size"], where, "crop_size")
        crop = (c[0], c[0]) if len(c) == 3 else (c[0], c[1])
    r = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
    mean, std = DEFAULT_MEAN, DEFAULT_STD
    if config.get("do_normalize", True):
        mean, std = tuple(config.get("image_mean", mean)), tuple(config.get("image_std", std))
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if len(mean) != 3 or len(std) != 3 or not all(isinstance(v, int | float) for v in (*mean, *std)) \
            or any(s <= 0 for s in std) or r <= 0:
        raise ConfigError(f"{where}: preprocessor_config.json image_mean / image_std / rescale_factor are not three "
                          f"means, three positive stds and a positive factor ({mean}, {std}, {r})")
    scale = 255.0 * r  # x in [0, 1] is pixel / 255
    return Preprocess(resize, mode, crop, tuple(m / scale for m in mean),  # type: ignore[arg-type]
                      tuple(s / scale for s in std))  # type: ignore[arg-type]
