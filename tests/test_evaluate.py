"""Bring your own detector: dfbench.evaluate / wrap / train on plain modules, and --model on the CLI."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

import dfbench
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import parse_grid
from dfbench.benchmark.store import Store
from dfbench.cli import app
from dfbench.errors import ConfigError

SIZE = 32
PGD = {"name": "pgd", "norm": "linf", "eps": ["8/255"], "steps": 10, "backend": "native"}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))


@pytest.fixture(scope="module")
def trained_net():
    """A plain nn.Module trained with dfbench's recipe; it expects inputs normalized to [-1, 1]."""
    net = small_net()
    detector, result = dfbench.train(net, dataset="mini", image_size=SIZE, epochs=6, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert result.val["auc"] > 0.55  # it learned something, so attacks have something to break
    return net, detector


def _hand_pgd(net, x, y, threshold, eps=8 / 255, steps=10):
    """Textbook L-inf PGD with a random start on the normalized model, aimed at the threshold."""
    shift = math.log(threshold / (1 - threshold))
    g = torch.Generator().manual_seed(0)
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps, generator=g)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        z = net((x_adv - 0.5) / 0.5)
        loss = F.cross_entropy(torch.stack([z[:, 0], z[:, 1] - shift], 1), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + 2.5 * eps / steps * grad.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return ((net((x_adv - 0.5) / 0.5).softmax(1)[:, 1] >= threshold).long() == y).float().mean().item()


def test_evaluate_a_plain_module_agrees_with_a_hand_written_pgd(trained_net, mini32):
    net, _ = trained_net
    results = dfbench.evaluate(net, image_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, attacks=[PGD], max_samples=96)
    cell = results.records.iloc[0]
    test = mini32["test"].head(96)
    theirs = _hand_pgd(net, test.images, test.labels, results.threshold)
    assert cell.adv_acc < cell.clean_acc  # the attack did something
    assert abs(cell.adv_acc - theirs) <= 3 / 96, (cell.adv_acc, theirs)  # other random starts: a few samples
    assert {"clean_acc", "linf 8/255", "worst_case", "evasion_rate", "flags"} <= set(results.table.columns)
    assert results.entry()["dataset"]["n_samples"] == 96


def test_evaluate_and_run_give_the_same_cells(trained_tiny, cache_dir, tmp_path):
    """One code path: a registered detector through evaluate() equals it through the driver."""
    grid = {"name": "same", "seed": 0, "batch_size": 48, "data": {"dataset": "mini", "image_size": SIZE,
                                                                    "max_samples": 48},
            "detectors": [{"name": "test_tiny_cnn"}],
            "attacks": [PGD, {"name": "fgsm", "eps": ["2/255", "8/255"]}]}
    store = Store(tmp_path / "run.sqlite")
    run_grid(parse_grid(grid), store, cache_dir)
    ran = store.records().sort_values(["attack", "eps"]).reset_index(drop=True)
    got = dfbench.evaluate(trained_tiny.detector, grid=grid, threshold=trained_tiny.threshold)
    evaluated = got.records.sort_values(["attack", "eps"]).reset_index(drop=True)
    assert len(ran) == 3
    for column in ("clean_acc", "adv_acc", "adv_auc", "evasion_rate", "linf_max", "l2_mean"):
        assert ran[column].tolist() == evaluated[column].tolist(), column


def test_evaluate_writes_the_run_store_and_resumes(trained_net, tmp_path):
    net, _ = trained_net
    kwargs = dict(image_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, attacks=[PGD], max_samples=48,
                  out=tmp_path / "res", name="mine")
    first = dfbench.evaluate(net, **kwargs)
    again = dfbench.evaluate(net, **kwargs)
    assert (first.summary.ran, again.summary.ran, again.summary.skipped) == (1, 0, 1)
    assert Store(tmp_path / "res" / "results.sqlite").records().detector.tolist() == ["mine"]
    pd.testing.assert_frame_equal(first.table, again.table)


def test_output_conventions_and_polarity():
    torch.manual_seed(0)
    net = small_net().eval()
    x = torch.rand(6, 3, SIZE, SIZE)
    with torch.no_grad():
        z = net(x)
        plain = dfbench.wrap(net, input_size=SIZE)
        assert torch.equal(plain(x), z)
        assert torch.allclose(dfbench.wrap(net, fake_index=0, input_size=SIZE).score(x), z.softmax(1)[:, 0])
        probs = dfbench.wrap(lambda t: net(t).softmax(1), output="probs", input_size=SIZE)
        assert torch.allclose(probs.score(x), z.softmax(1)[:, 1], atol=1e-6)
        one = dfbench.wrap(lambda t: net(t)[:, 1:], output="logit", input_size=SIZE)
        assert torch.allclose(one.score(x), torch.sigmoid(z[:, 1]), atol=1e-6)
        normalized = dfbench.wrap(net, mean=(0.5,) * 3, std=(0.25,) * 3, input_size=SIZE)
        assert torch.allclose(normalized(x), net((x - 0.5) / 0.25), atol=1e-6)


def test_probability_outputs_get_the_probe_flags_not_silence(trained_net):
    """A model that ends in softmax, declared as probs: the run says what that costs, if anything."""
    net, _ = trained_net
    saturated = nn.Sequential(net, nn.Softmax(dim=1))
    with torch.no_grad():  # a detector 1000x over-confident: softmax saturates
        saturated[0][-1].weight.mul_(1000)
    results = dfbench.evaluate(saturated, image_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, output="probs",
                               attacks=[{"name": "fgsm", "eps": ["8/255"]}], max_samples=64)
    with torch.no_grad():
        saturated[0][-1].weight.div_(1000)
    flags = set(results.records.detector_flags.iloc[0].split(","))
    assert flags & {"saturated_softmax", "zero_gradients"}, flags


@pytest.mark.parametrize("model,message", [
    (lambda x: x.mean(dim=(1, 2, 3)), r"expects \(N, 2\), got \(2,\)"),
    (lambda x: torch.full((x.shape[0], 2), float("nan")), "NaN or inf"),
    (lambda x: (x, x), "not a tensor"),
])
def test_a_model_that_breaks_the_interface_is_one_clear_error(model, message):
    with pytest.raises(ConfigError, match=message):
        dfbench.evaluate(model, image_size=SIZE, attacks=[PGD], max_samples=8)


def test_anything_not_a_detector_gets_a_pointer_to_wrap_and_evaluate():
    with pytest.raises(TypeError, match=r"dfbench.wrap\(model.*dfbench.evaluate\(model"):
        dfbench.create_attack("pgd", eps=0.03).perturb(small_net(), torch.rand(2, 3, SIZE, SIZE), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="dfbench.wrap"):
        dfbench.defend(small_net())
    with pytest.raises(TypeError, match="Detector already"):
        dfbench.wrap(dfbench.create_detector("test_tiny_cnn"), mean=(0.5,) * 3)


FACTORY = '''
import torch
from torch import nn


def make(input_size=(32, 32)):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def broken():
    raise RuntimeError("this factory needs a GPU")
'''


def test_model_from_a_file_on_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(FACTORY)
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseed = 0\nbatch_size = 48\n[data]\ndataset = "mini"\nimage_size = 32\n'
                    'max_samples = 48\n[[detectors]]\nname = "test_tiny_cnn"\n[[attacks]]\nname = "fgsm"\n'
                    'eps = ["4/255"]\n')
    cli, env = CliRunner(), {"DFBENCH_CACHE": str(tmp_path / "cache")}
    trained = cli.invoke(app, ["train", "--model", "net.py:make", "--image-size", "32", "--epochs", "2"], env=env)
    assert trained.exit_code == 0, trained.output
    weights = next((tmp_path / "cache" / "net.make").glob("*.safetensors"))
    ran = cli.invoke(app, ["run", "--grid", str(grid), "--model", "net.py:make", "--weights", str(weights),
                           "--out", "res"], env=env)
    assert ran.exit_code == 0, ran.output
    records = Store(tmp_path / "res" / "results.sqlite").records()
    import hashlib

    digest = hashlib.sha256((tmp_path / "net.py").read_bytes()).hexdigest()
    assert records.detector.tolist() == ["net.make"]
    assert records.detector_source.tolist() == [f"net.py:make@{digest}"]
    for args, message in ((["--model", "net.py:broken"], "the factory raised RuntimeError: this factory needs a GPU"),
                          (["--model", "nope.py:make"], "no such file"),
                          (["--model", "net.py"], "expected path/to/file.py:factory"),
                          (["--model", "net.py:missing"], "has no callable 'missing'"),
                          (["--weights", str(weights)], "--weights needs the one detector it belongs to")):
        bad = cli.invoke(app, ["run", "--grid", str(grid), *args], env=env)
        lines = bad.output.strip().splitlines()
        assert bad.exit_code == 2 and lines[-1].startswith("dfbench: error:") and message in lines[-1], bad.output
        assert "Traceback" not in bad.output


def test_other_conventions_are_another_model_and_results_show_only_the_one_evaluated(trained_net, tmp_path):
    """Same weights, another polarity or threshold: new cells (never the stored ones), and the
    results of a shared store are only the evaluated model's."""
    net, _ = trained_net
    kwargs = dict(image_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, attacks=[PGD], max_samples=48,
                  out=tmp_path / "res", name="mine")
    first = dfbench.evaluate(net, **kwargs)
    flipped = dfbench.evaluate(net, fake_index=0, **kwargs)
    fixed = dfbench.evaluate(net, threshold=0.3, **kwargs)
    assert (flipped.summary.ran, fixed.summary.ran) == (1, 1)  # not resumed from the first model's cell
    assert len(Store(tmp_path / "res" / "results.sqlite").records()) == 3
    for res in (first, flipped, fixed):
        assert len(res.records) == 1 and len(res.samples) == 48 and len(res.entries) == 1
    assert first.records.weights_sha256.iloc[0] != flipped.records.weights_sha256.iloc[0]
    assert fixed.records.threshold.iloc[0] == pytest.approx(0.3)


def test_evaluate_with_a_defense_gives_naive_and_adaptive_rows(trained_net):
    net, _ = trained_net
    results = dfbench.evaluate(net, image_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, attacks=[PGD], max_samples=48,
                               defenses=[{"chain": [{"name": "jpeg", "quality": 75}]}])
    modes = results.records.groupby("defenses").adaptive.apply(sorted).to_dict()
    assert modes == {"": [0], "Jpeg(quality=75)": [0, 1]}
    defended = results.records[results.records.defenses != ""].set_index("adaptive").adv_acc
    assert defended[1] <= defended[0]  # BPDA through the codec is at least as strong as the naive attack
    assert set(results.table.attack_mode) == {"", "naive", "adaptive"}
