"""Grad-CAM heatmaps of an image detector on clean and adversarial inputs (`dfbench explain`).

Grad-CAM (Selvaraju et al., ICCV 2017), as the ResNeXt-LSTM paper (Ram T et al. 2025) uses it
to show where a detector looks: the "fake" logit's gradient, averaged over each channel of a
convolutional layer, weights that layer's activations. Computed by the pytorch-grad-cam
library; the layer is the detector's last ``Conv2d`` unless one is named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .detectors import Detector
from .errors import ConfigError


def last_conv(detector: nn.Module) -> tuple[str, nn.Module]:
    """The name and module of the detector's last ``Conv2d`` (in registration order)."""
    convs = [(name, m) for name, m in detector.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(f"{type(detector).__name__} has no Conv2d layer for Grad-CAM")
    return convs[-1]


def grad_cam(detector: Detector, images: Tensor, layer: nn.Module) -> np.ndarray:
    """Heatmaps ``(N, H, W)`` in [0, 1] for the fake class; ``images`` ``(N, 3, H, W)`` in [0, 1]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if detector.modality != "image":
        raise ConfigError("Grad-CAM here takes image detectors (N, 3, H, W); this one takes video clips")
    detector.eval()
    with GradCAM(model=detector, target_layers=[layer]) as cam:
        return cam(input_tensor=images, targets=[ClassifierOutputTarget(1)] * len(images))


def write_panels(out: Path, clean: Tensor, adv: Tensor, cam_clean: np.ndarray, cam_adv: np.ndarray,
                 clean_scores: Tensor, adv_scores: Tensor, labels: Tensor, title: str) -> list[Path]:
    """One PNG per sample: clean | clean heatmap | adversarial | adversarial heatmap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(clean)):
        rgb_clean = clean[i].permute(1, 2, 0).numpy().astype(np.float32)
        rgb_adv = adv[i].permute(1, 2, 0).numpy().astype(np.float32)
        panels = [(rgb_clean, f"clean  P(fake)={clean_scores[i]:.2f}"),
                  (show_cam_on_image(rgb_clean, cam_clean[i], use_rgb=True), "Grad-CAM clean"),
                  (rgb_adv, f"adversarial  P(fake)={adv_scores[i]:.2f}"),
                  (show_cam_on_image(rgb_adv, cam_adv[i], use_rgb=True), "Grad-CAM adversarial")]
        fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
        for ax, (img, name) in zip(axes, panels):
            ax.imshow(img)
            ax.set_title(name, fontsize=8)
            ax.axis("off")
        fig.suptitle(f"{title}  sample {i}  label={'fake' if labels[i] else 'real'}", fontsize=9)
        fig.tight_layout()
        path = out / f"sample_{i:03d}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def explain(detector_name: str, grid, cache_dir: Path, out: Path, attack: str = "pgd", eps: float = 8 / 255,
            n: int = 8, layer: str | None = None, **attack_params) -> list[Path]:
    """Grad-CAM panels for the first ``n`` samples of ``grid``'s split, clean vs ``attack`` at ``eps``.

    The detector is the one `dfbench run` evaluates on this grid (same checkpoint and threshold).
    """
    from .attacks import create_attack
    from .attacks.base import eps_label
    from .benchmark.prepare import load_detector_for_grid

    attacker = create_attack(attack, eps=eps, seed=grid.seed, **attack_params)  # a bad attack: before training
    trained, data = load_detector_for_grid(grid, detector_name, cache_dir)  # as `run` evaluates it
    detector = trained.detector
    if detector.modality != "image":
        raise ConfigError(f"explain takes image detectors on image datasets; {detector_name} on {grid.dataset} "
                          "scores video clips")
    modules = dict(detector.named_modules())
    if layer is not None and not isinstance(modules.get(layer), nn.Conv2d):
        convs = [k for k, m in modules.items() if isinstance(m, nn.Conv2d)]
        raise ConfigError(f"{detector_name} has no Conv2d layer {layer!r}; its conv layers: "
                          f"{', '.join(convs[-5:])} ...")
    name, module = (layer, modules[layer]) if layer is not None else last_conv(detector)
    split = data[grid.split].head(n)
    x_adv = attacker.perturb(detector, split.images, split.labels)
    with torch.no_grad():
        clean_scores, adv_scores = detector.score(split.images), detector.score(x_adv)
    return write_panels(out, split.images, x_adv, grad_cam(detector, split.images, module),
                        grad_cam(detector, x_adv, module), clean_scores, adv_scores, split.labels,
                        f"{detector_name} [{name}]  {attack} {eps_label(attacker.norm, eps)}")
