"""Grad-CAM (`dfbench explain`): the library's heatmaps against a hand-written Grad-CAM."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dfbench.explain import grad_cam, last_conv


def reference_grad_cam(detector, images, layer):
    """Selvaraju et al. 2017 by hand: ReLU(sum_k mean(dy_fake/dA_k) A_k), bilinear to the input, min-max."""
    saved = {}
    handle = layer.register_forward_hook(lambda m, i, o: saved.__setitem__("a", o))
    try:
        logits = detector(images)
        grads = torch.autograd.grad(logits[:, 1].sum(), saved["a"])[0]
    finally:
        handle.remove()
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * saved["a"]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    lo = cam.amin(dim=(1, 2), keepdim=True)
    return ((cam - lo) / ((cam - lo).amax(dim=(1, 2), keepdim=True) + 1e-7)).detach()


def test_library_grad_cam_matches_the_hand_written_one(trained_cnn, mini32):
    detector = trained_cnn.detector
    images = mini32["test"].images[:6]
    _, layer = last_conv(detector)
    ours = torch.from_numpy(grad_cam(detector, images, layer))
    ref = reference_grad_cam(detector, images, layer)
    assert ours.shape == ref.shape == (6, 32, 32)
    for a, b in zip(ours, ref):  # cv2 and torch resize differ slightly; the maps must agree
        r = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
        assert r > 0.97, r
    assert (ours.amax(dim=(1, 2)) > 0.99).all()


def test_last_conv_is_the_deepest_feature_layer(trained_cnn):
    name, _ = last_conv(trained_cnn.detector)
    assert name == "features.3.0"


def test_explain_cli_writes_one_panel_per_sample(cache_dir, tmp_path):
    from tests.conftest import tiny_grid
    from tests.test_cli import invoke

    grid = tmp_path / "g.toml"
    grid.write_text(tiny_grid("g", '[[attacks]]\nname = "fgsm"\neps = ["8/255"]\n'))
    result = invoke("explain", "test_tiny_cnn", "--grid", str(grid), "--attack", "fgsm", "--n", "3",
                    "--out", str(tmp_path / "x"), "--cache", str(cache_dir))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["sample_000.png", "sample_001.png", "sample_002.png"]
    from PIL import Image

    assert Image.open(tmp_path / "x" / "sample_000.png").size[0] > 500  # four panels side by side


def test_explain_bad_layer_and_video_detector_are_one_line(cache_dir, tmp_path):
    from tests.conftest import tiny_grid
    from tests.test_cli import invoke

    grid = tmp_path / "g.toml"
    grid.write_text(tiny_grid("g", '[[attacks]]\nname = "fgsm"\neps = ["8/255"]\n'))
    bad = invoke("explain", "test_tiny_cnn", "--grid", str(grid), "--layer", "nope", "--cache", str(cache_dir))
    assert bad.exit_code == 2 and "no Conv2d layer 'nope'" in bad.output and len(bad.output.strip().splitlines()) == 1
    video = invoke("explain", "test_tiny_video", "--grid", str(grid), "--cache", str(tmp_path / "c"))
    assert video.exit_code == 2 and "takes video clips" in video.output and len(video.output.strip().splitlines()) == 1
