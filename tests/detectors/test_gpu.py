"""GPU paths: skipped cleanly on machines without CUDA."""

import pytest
import torch

from dfbench.attacks import create_attack
from dfbench.detectors import create_detector


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["hybrid_cnn_lstm_model2", "custom_cnn"])
def test_attack_on_cuda_in_eval_mode(name):
    # cuDNN refuses RNN backward in eval mode; RowLSTM turns cuDNN off there
    det = create_detector(name, input_size=(32, 32)).cuda().eval()
    x = torch.rand(4, 3, 32, 32, device="cuda")
    y = torch.ones(4, dtype=torch.long, device="cuda")
    x_adv = create_attack("pgd", eps=4 / 255, steps=2).perturb(det, x, y)
    assert x_adv.is_cuda and (x_adv - x).abs().max() <= 4 / 255 + 1e-6
