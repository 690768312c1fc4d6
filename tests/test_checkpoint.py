import pickle

import pytest
import torch

from dfbench.detectors import create_detector
from dfbench.errors import CheckpointError
from dfbench.train.checkpoint import load_weights, read_card, save_checkpoint


def _card_fields():
    return {"detector": "test_tiny_cnn", "dataset": "mini", "dataset_fingerprint": "f", "input_size": (32, 32),
            "seed": 0, "epochs_run": 1, "best_epoch": 1, "threshold": 0.5, "val": {"acc": 0.5}}


def test_round_trip(tmp_path):
    a = create_detector("test_tiny_cnn")
    card = save_checkpoint(a, tmp_path / "w.safetensors", _card_fields())
    b = create_detector("test_tiny_cnn")
    assert load_weights(b, tmp_path / "w.safetensors") == card.sha256
    assert read_card(tmp_path / "w.safetensors") == card and card.restarts == 0  # a card without it: none
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(a.eval()(x), b.eval()(x))


def test_missing_tampered_and_mismatched_files(tmp_path):
    det = create_detector("test_tiny_cnn")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(det, tmp_path / "missing.safetensors")
    path = tmp_path / "w.safetensors"
    save_checkpoint(det, path, _card_fields())
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_weights(det, path)
    path.with_suffix(".json").unlink()
    other = tmp_path / "other.safetensors"
    save_checkpoint(create_detector("test_tiny_cnn", width=4), other, _card_fields())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_weights(det, other)
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_weights(det, tmp_path / "junk.safetensors")


class Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(CheckpointError, match="could not be read"):
        load_weights(create_detector("test_tiny_cnn"), path)
    assert not (tmp_path / "PWNED").exists()


def test_trained_detector_trains_on_the_device_it_is_given(tmp_path, monkeypatch):
    import torch

    from dfbench.train import trained as trained_module

    seen = []
    real = trained_module.train_detector
    monkeypatch.setattr(trained_module, "train_detector",
                        lambda *a, **k: seen.append(k.get("device")) or real(*a, **k))
    trained_module.trained_detector("test_tiny_cnn", "mini", 32, tmp_path, training={"epochs": 1},
                                    device=torch.device("cpu"))
    assert seen == [torch.device("cpu")]
