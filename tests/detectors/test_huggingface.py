"""Hugging Face classifiers from a local folder: the same P(fake) as transformers' own pipeline on the
same images, polarity from label names (two and three classes), and one line for what cannot be read."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import dfbench
from dfbench.benchmark.store import Store
from dfbench.cli import app
from dfbench.detectors.hf.labels import kind
from dfbench.errors import DfbenchError

transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")


def save_vit(folder, id2label, processor=None, seed=0):
    """A tiny ViT classifier with ``id2label`` and its image processor, as ``save_pretrained`` writes them."""
    torch.manual_seed(seed)
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=len(id2label),
                                    id2label=id2label, label2id={v: k for k, v in id2label.items()})
    transformers.ViTForImageClassification(config).eval().save_pretrained(folder)
    (processor or transformers.ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5, 0.4, 0.3],
                                                 image_std=[0.2, 0.25, 0.3])).save_pretrained(folder)
    return folder


def images(shape, n=4, seed=1):
    """8-bit RGB images (the pipeline reads files) and the same as dfbench's (N, 3, H, W) in [0, 1]."""
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(n)]
    return [Image.fromarray(a) for a in arrays], torch.tensor(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def pipeline_scores(folder, pil):
    """transformers' own answer: {label: softmax probability} per image."""
    classify = transformers.pipeline("image-classification", model=str(folder))
    return [{d["label"]: d["score"] for d in classify(img, top_k=None, function_to_apply="softmax")} for img in pil]


@pytest.mark.parametrize("labels, fake", [({0: "Deepfake", 1: "Realism"}, ["Deepfake"]),
                                          ({0: "Real", 1: "FAKE"}, ["FAKE"]),
                                          ({0: "Artificial", 1: "Deepfake", 2: "Real"}, ["Artificial", "Deepfake"])])
def test_p_fake_is_the_pipelines_at_the_processors_size(tmp_path, labels, fake):
    folder = save_vit(tmp_path / "m", labels)
    pil, x = images((32, 32))
    det = dfbench.load_detector(folder)
    with torch.no_grad():
        ours = det.score(x)
    theirs = torch.tensor([sum(s[f] for f in fake) for s in pipeline_scores(folder, pil)])
    assert torch.allclose(ours, theirs, atol=1e-5), (ours, theirs)
    assert det.input_size == (32, 32)


PROCESSORS = {  # shortest edge 40, bicubic, centre crop 32; ConvNeXt: short side to 32 / 0.8 = 40, crop 32
    "clip": lambda: transformers.CLIPImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32},
                                                    image_mean=[0.48, 0.46, 0.41], image_std=[0.27, 0.26, 0.28]),
    "convnext": lambda: transformers.ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.8),
}


@pytest.mark.parametrize("kind", sorted(PROCESSORS))
@pytest.mark.parametrize("shape", [(48, 64), (51, 67)])  # odd sides: transformers' crop offsets round down
def test_resize_and_centre_crop_run_inside_the_detector(tmp_path, kind, shape):
    """The processor's resize and crop as torch ops against the pipeline's own steps (8-bit rounding
    after the resize on their side)."""
    folder = save_vit(tmp_path / "m", {0: "fake", 1: "real"}, PROCESSORS[kind]())
    pil, x = images(shape, n=6)
    det = dfbench.load_detector(folder)
    with torch.no_grad():
        ours = det.score(x)
    theirs = torch.tensor([s["fake"] for s in pipeline_scores(folder, pil)])
    assert torch.allclose(ours, theirs, atol=2e-3), (ours, theirs)
    x.requires_grad_(True)
    det(x)[:, 1].sum().backward()  # the attack's gradient reaches the [0, 1] pixels through resize and crop
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_three_classes_give_the_margin_of_p_fake_against_p_real(tmp_path):
    folder = save_vit(tmp_path / "m", {0: "Artificial", 1: "Deepfake", 2: "Real"})
    det = dfbench.load_detector(folder)
    _, x = images((32, 32))
    with torch.no_grad():
        probs = det.model(pixel_values=det.steps(det.normalize(x))).logits.softmax(1)
        two = det(x)
    margin = two[:, 1] - two[:, 0]
    assert torch.allclose(margin, (probs[:, 0] + probs[:, 1]).log() - probs[:, 2].log(), atol=1e-5)


def test_labels_are_read_as_words():
    assert [kind(label) for label in ("Deepfake", "REALISM", "AI-generated", "bona fide", "non-fake", "Fake_Image",
                                      "human", "LABEL_0", "real or fake", "cat")] == \
        ["fake", "real", "fake", "real", "real", "fake", "real", "", "", ""]


def test_unrecognised_labels_are_one_line_that_says_how_to_settle_them(tmp_path):
    folder = save_vit(tmp_path / "m", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(DfbenchError, match=r"cannot tell which labels mean fake .*'LABEL_0'.*real_label="):
        dfbench.load_detector(folder)
    det = dfbench.load_detector(folder, real_label="LABEL_1")  # settled: class 0 is fake
    _, x = images((32, 32))
    with torch.no_grad():
        assert torch.allclose(det.score(x), det.model(pixel_values=det.normalize(x)).logits.softmax(1)[:, 0])
    with pytest.raises(DfbenchError, match="'LABEL_9' is not one of the model's labels"):
        dfbench.load_detector(folder, fake_labels=["LABEL_9"])


def test_an_imagenet_classifier_is_refused(tmp_path):
    labels = {i: f"n{i:08d} tench goldfish"[:20] for i in range(1000)}
    labels[7] = "cock"
    folder = save_vit(tmp_path / "m", labels)
    with pytest.raises(DfbenchError, match="1000 classes, 0 fake-like and 0 real-like") as info:
        dfbench.load_detector(folder)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case, message", [
    ("no config", "no config.json"),
    ("pickle only", "pytorch_model.bin is a pickle, which dfbench never reads"),
    ("no processor", "no preprocessor_config.json"),
    ("remote code", r"runs none \(trust_remote_code stays off\)"),
    ("broken json", "is not valid JSON"),
    ("odd size", "is not a size dfbench reads"),
])
def test_a_folder_dfbench_cannot_read_is_one_line(tmp_path, case, message):
    folder = save_vit(tmp_path / "m", {0: "fake", 1: "real"})
    config = json.loads((folder / "config.json").read_text())
    if case == "no config":
        (folder / "config.json").unlink()
    elif case == "pickle only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif case == "no processor":
        (folder / "preprocessor_config.json").unlink()
    elif case == "remote code":
        (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "evil.Net"}}))
    elif case == "broken json":
        (folder / "config.json").write_text("{")
    elif case == "odd size":
        processor = json.loads((folder / "preprocessor_config.json").read_text())
        (folder / "preprocessor_config.json").write_text(json.dumps({**processor, "size": {"longest_edge": 9}}))
    with pytest.raises(DfbenchError, match=message) as info:
        dfbench.load_detector(folder)
    assert "\n" not in str(info.value)


def test_without_transformers_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    folder = save_vit(tmp_path / "m", {0: "fake", 1: "real"})
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(DfbenchError, match=r"pip install 'dfbench\[hf\]'"):
        dfbench.load_detector(folder)


def test_a_grid_runs_a_folder_as_model_hf_without_training_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_vit(tmp_path / "vit", {0: "Deepfake", 1: "Realism"})
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseed = 0\nbatch_size = 24\n[data]\ndataset = "mini"\nimage_size = 32\n'
                    'max_samples = 24\n[[detectors]]\nmodel = "hf:vit"\n[[attacks]]\nname = "fgsm"\n'
                    'eps = ["4/255"]\n')
    cli, env = CliRunner(), {"DFBENCH_CACHE": str(tmp_path / "cache")}
    ran = cli.invoke(app, ["run", "--grid", str(grid), "--out", "res"], env=env)
    assert ran.exit_code == 0, ran.output
    records = Store(tmp_path / "res" / "results.sqlite").records()
    assert records.detector.tolist() == ["hf.vit"] and records.detector_source.iloc[0].startswith("hf:vit@")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))  # no training
    submitted = cli.invoke(app, ["submit", "--out", "res", "--leaderboards", "lb", "--weights", "vit"], env=env)
    assert submitted.exit_code == 0, submitted.output  # the folder is the weights: its digest is the entry's
    (tmp_path / "vit" / "config.json").write_text((tmp_path / "vit" / "config.json").read_text() + " ")
    changed = cli.invoke(app, ["submit", "--out", "res", "--leaderboards", "lb2", "--weights", "vit"], env=env)
    assert changed.exit_code == 2 and "not the weights hf.vit was evaluated with" in changed.output


def test_weights_that_do_not_fill_the_model_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = save_vit(tmp_path / "m", {0: "fake", 1: "real"})
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not k.startswith("classifier.")}, str(folder / "model.safetensors"))
    with pytest.raises(DfbenchError, match=r"do not fill the model \(missing keys: classifier"):
        dfbench.load_detector(folder)


def test_an_empty_fake_labels_and_a_processor_with_other_steps_are_refused(tmp_path):
    folder = save_vit(tmp_path / "m", {0: "fake", 1: "real"})
    with pytest.raises(DfbenchError, match="fake_labels is empty"):
        dfbench.load_detector(folder, fake_labels=[])
    transformers.EfficientNetImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    with pytest.raises(DfbenchError, match="EfficientNetImageProcessor has steps dfbench does not reproduce"):
        dfbench.load_detector(folder)


def test_a_folder_brings_its_weights_so_it_takes_no_training_and_a_registered_name_wins(tmp_path, monkeypatch):
    from dfbench.benchmark.grid import load_grid
    from dfbench.errors import ConfigError
    from dfbench.train import trained_detector

    monkeypatch.chdir(tmp_path)
    save_vit(tmp_path / "vit_trained", {0: "Deepfake", 1: "Realism"})  # hf.<folder>: names are per folder name
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseed = 0\n[data]\ndataset = "mini"\nimage_size = 32\n[[detectors]]\n'
                    'model = "hf:vit_trained"\ntraining = { adv = "fgsm", adv_eps = "8/255" }\n[[attacks]]\nname = "fgsm"\n'
                    'eps = ["4/255"]\n')
    spec = load_grid(grid).detectors[0]
    with pytest.raises(ConfigError, match="comes with its own weights .* takes no training recipe"):
        trained_detector(spec.name, "mini", 32, tmp_path / "cache", training=spec.training)
    (tmp_path / "custom_cnn").mkdir()  # a folder that shares a registered detector's name
    assert type(dfbench.load_detector("custom_cnn", input_size=32)).__name__ == "CustomCNN"
