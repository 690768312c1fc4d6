"""Training-time defenses: adversarial training and distillation as tagged checkpoints."""

import subprocess
import sys

import pytest
import torch

from dfbench.train import TrainConfig
from dfbench.train.trained import checkpoint_tag, describe_training, trained_detector, training_config


def test_training_configs_get_their_own_readable_tags():
    plain, fgsm = training_config({}, 0), training_config({"adv": "fgsm", "adv_eps": 4 / 255}, 0)
    distilled = training_config({"temperature": 20}, 0)
    assert checkpoint_tag({}, plain) == ""
    assert checkpoint_tag({}, fgsm).startswith("fgsmat-") and checkpoint_tag({}, distilled).startswith("distill-")
    assert checkpoint_tag({}, fgsm) != checkpoint_tag({}, training_config({"adv": "fgsm"}, 0))
    assert describe_training(fgsm) == "fgsm-at(eps=0.01569, ratio=0.5)"
    assert describe_training(distilled) == "distilled(T=20)"
    with pytest.raises(ValueError, match="unknown training key"):
        training_config({"lr_schedule": 1}, 0)
    with pytest.raises(ValueError, match="adv must be"):
        TrainConfig(adv="cw")


def test_cli_train_writes_the_checkpoint_a_grid_uses(tmp_path):
    cmd = [sys.executable, "-m", "dfbench", "train", "test_tiny_cnn", "--image-size", "32", "--epochs", "2",
           "--adv", "pgd", "--eps", "4/255", "--adv-steps", "2", "--cache", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "pgd-at(eps=0.01569, ratio=0.5, steps=2)" in out.stdout
    trained = trained_detector("test_tiny_cnn", "mini", 32, tmp_path, training={
        "adv": "pgd", "adv_eps": 4 / 255, "adv_steps": 2, "epochs": 2})
    assert trained.card.training == "pgd-at(eps=0.01569, ratio=0.5, steps=2)"
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1  # found, not trained again


def test_adversarial_batches_are_crafted_against_the_current_weights(monkeypatch):
    import copy
    import importlib

    from dfbench.attacks import create_attack
    from dfbench.data import create_dataset
    from dfbench.detectors import create_detector

    fit_module = importlib.import_module("dfbench.train.fit")  # the module; dfbench.train.fit is the function
    checks = []
    real = fit_module._adversarial

    def spy(detector, x, y, config, step):
        snapshot = copy.deepcopy(detector)  # the weights as they are at this step
        out = real(detector, x, y, config, step)
        k = len(x) // 2
        attack = create_attack("fgsm", eps=config.adv_eps, backend="native")
        attack.first_adversarial = False  # Madry's recipe: misclassified samples are perturbed too
        expected = attack.perturb(snapshot, x[:k], y[:k])
        checks.append((torch.allclose(out[:k], expected, atol=1e-6), torch.equal(out[k:], x[k:]),
                       bool((out[:k] != x[:k]).flatten(1).any(1).all())))
        return out

    monkeypatch.setattr(fit_module, "_adversarial", spy)
    data = create_dataset("mini", image_size=32)
    det = create_detector("test_tiny_cnn", input_size=(32, 32))
    fit_module.fit(det, data["train"].head(96), data["val"], TrainConfig(epochs=1, batch_size=32, adv="fgsm",
                                                                         adv_ratio=0.5))
    assert checks == [(True, True, True)] * 3  # three batches: half adversarial, against the weights of the moment


def test_numbers_name_the_same_checkpoint_however_written():
    as_int, as_float = training_config({"temperature": 50}, 0), training_config({"temperature": 50.0}, 0)
    assert checkpoint_tag({}, as_int) == checkpoint_tag({}, as_float)
    assert checkpoint_tag({"width": 16}, training_config({}, 0)) == "c619fab1"  # the tag plain training always had
    with pytest.raises(ValueError, match="need adv"):
        training_config({"adv_eps": 0.1}, 0)


@pytest.mark.slow  # slow: trains a distilled teacher and student (~30 s)
def test_distilled_logits_saturate_the_softmax(mini32):
    """A student distilled at T=50 and deployed at T=1 has ~T-times larger logits: the
    saturated softmax behind distillation's apparent robustness (Carlini & Wagner 2016)."""
    from dfbench.benchmark.sanity import probe_detector
    from dfbench.data import create_dataset
    from dfbench.detectors import create_detector
    from dfbench.train.fit import fit

    data = create_dataset("mini", image_size=32)
    config = TrainConfig(epochs=4, seed=0)
    plain = create_detector("custom_cnn", input_size=(32, 32))
    fit(plain, data["train"], data["val"], config)
    teacher = create_detector("custom_cnn", input_size=(32, 32))
    hot = TrainConfig(epochs=4, seed=0, temperature=50)
    fit(teacher, data["train"], data["val"], hot)
    student = create_detector("custom_cnn", input_size=(32, 32))
    fit(student, data["train"], data["val"], hot, teacher=teacher)
    x, y = mini32["test"].images[:64], mini32["test"].labels[:64]
    with torch.no_grad():
        margin_plain = (plain(x)[:, 1] - plain(x)[:, 0]).abs().median()
        margin_student = (student(x)[:, 1] - student(x)[:, 0]).abs().median()
    assert margin_student > 5 * margin_plain
    assert "saturated_softmax" in probe_detector(student, x, y)


def _small_mini(n: int = 96):
    from dfbench.data import create_dataset

    data = create_dataset("mini", image_size=32)
    return data["train"].head(n), data["val"]


def _margin_spread(detector, images) -> float:
    with torch.no_grad():
        logits = detector.eval()(images)
    margins = logits[:, 1] - logits[:, 0]
    return float(margins.max() - margins.min())


def test_a_dead_network_is_trained_again_from_fresh_weights(caplog):
    """Every ReLU of a layer off (the full grid's dropout CNN-LSTM head): the output no longer depends
    on the input; fit() starts again from ``rebuild``'s weights, and never replaces a module's
    weights without it (a user's module may be pretrained)."""
    import importlib

    from dfbench.detectors.tiny import TinyCNN

    fit_module = importlib.import_module("dfbench.train.fit")
    train, val = _small_mini()
    config, seeds = TrainConfig(epochs=3, seed=0), []

    def dead() -> TinyCNN:
        torch.manual_seed(0)
        detector = TinyCNN()
        with torch.no_grad():
            detector.net[2].bias.fill_(-1e3)  # the second conv's ReLU is off for every input
        return detector

    def rebuild(seed: int) -> TinyCNN:
        seeds.append(seed)
        torch.manual_seed(seed)
        return TinyCNN()

    stuck = dead()
    result = fit_module.fit(stuck, train, val, config)
    assert _margin_spread(stuck, val.images) < fit_module.DEAD_SPREAD and len(result.history) == 1  # kept, stopped
    assert result.restarts == 0
    revived = dead()
    with caplog.at_level("WARNING", logger="dfbench.train.fit"):
        result = fit_module.fit(revived, train, val, config, rebuild=rebuild)
    assert "training again from fresh weights (restart 1 of 4)" in caplog.text
    assert seeds == [fit_module.restart_seed(0, 1)] and seeds[0] not in (0, 1)  # not another seed's first weights
    assert _margin_spread(revived, val.images) > 100 * fit_module.DEAD_SPREAD and len(result.history) == 3
    assert result.restarts == 1  # what the checkpoint card records


def test_a_healthy_network_trains_exactly_as_without_restarts(caplog):
    import importlib

    from dfbench.detectors.tiny import TinyCNN

    fit_module = importlib.import_module("dfbench.train.fit")
    train, val = _small_mini()
    states = []
    for rebuild in (TinyCNN, None):
        torch.manual_seed(0)
        detector = TinyCNN()
        with caplog.at_level("WARNING", logger="dfbench.train.fit"):
            fit_module.fit(detector, train, val, TrainConfig(epochs=2, seed=0),
                           rebuild=(lambda seed: TinyCNN()) if rebuild else None)
        states.append(detector.state_dict())
    assert "fresh weights" not in caplog.text
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
