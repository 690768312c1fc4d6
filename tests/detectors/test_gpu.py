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


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cnn_lstm", "resnext_lstm", "test_tiny_video"])
def test_video_attack_on_cuda_in_eval_mode(name):
    det = create_detector(name, input_size=(32, 32)).cuda().eval()
    x = torch.rand(2, 3, 3, 32, 32, device="cuda")
    y = torch.ones(2, dtype=torch.long, device="cuda")
    x_adv = create_attack("pgd", eps=4 / 255, steps=2).perturb(det, x, y)
    assert x_adv.is_cuda and (x_adv - x).abs().max() <= 4 / 255 + 1e-6


@pytest.mark.gpu
def test_training_runs_on_cuda_and_saves_cpu_weights(tmp_path):
    from dfbench.train import TrainConfig, train_detector, trained_detector

    card = train_detector("test_tiny_cnn", "mini", 32, tmp_path / "w.safetensors", TrainConfig(epochs=1),
                          device=torch.device("cuda"))
    loaded = trained_detector("test_tiny_cnn", "mini", 32, tmp_path, weights=tmp_path / "w.safetensors")
    assert loaded.weights_sha256 == card.sha256 and next(loaded.detector.parameters()).device.type == "cpu"
