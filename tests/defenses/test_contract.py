"""Every registered defense, by the registry: shape, range, and the gradient paths it declares."""

import pytest
import torch

from dfbench.defenses import GradientPath, adaptive_is_naive, attack_view, create_defense, defend, defenses
from dfbench.detectors import create_detector


def gradient(detector, x, adaptive):
    x = x.clone().requires_grad_(True)
    with attack_view(detector, adaptive) as view:
        (g,) = torch.autograd.grad(view(x)[:, 1].sum(), x)
    return g


@pytest.mark.parametrize("name", defenses.names())
def test_shape_range_and_the_two_gradient_paths(name, x):
    layer = create_defense(name)  # its default parameters
    det = defend(create_detector("test_tiny_cnn"), layer)
    out = layer.transform(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    naive, adaptive = gradient(det, x, False), gradient(det, x, True)
    assert adaptive.abs().sum() > 0  # BPDA / EOT always give the attacker a gradient
    if layer.gradient_path is GradientPath.BPDA:  # piecewise constant: the naive gradient is zero
        assert naive.abs().sum() == 0
    else:
        assert naive.abs().sum() > 0
    if adaptive_is_naive(det):  # a run writes its naive numbers for both modes: the gradients must agree
        assert torch.equal(naive, adaptive)
    if layer.gradient_path is not GradientPath.EOT:  # BPDA changes the backward pass only, never the value
        with torch.no_grad(), attack_view(det, True) as view:
            assert torch.equal(view(x), det(x))
    else:  # randomized: two draws differ, and the adaptive view averages draws
        assert not torch.equal(layer.transform(x), layer.transform(x))

