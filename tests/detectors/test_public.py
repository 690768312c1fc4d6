"""Public checkpoint layouts: a checkpoint written exactly as each project writes it, from an
architecture built to the project's own definition, loads strictly and gives the same outputs."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

import dfbench
from dfbench.detectors.public import LAYOUTS
from dfbench.errors import CheckpointError

from . import reference_nets as ref

SIZE = 96  # every architecture here is size-agnostic (global pooling); small inputs keep the tests fast


def _save(model, layout: str, path):
    """Write ``model``'s state dict the way ``layout``'s project writes its checkpoints."""
    state = model.state_dict()
    if layout == "sbi_efficientnet_b4":  # train_sbi.py: torch.save({"model": ..., "optimizer": ..., "epoch": ...})
        torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.001}]}, "epoch": 12}, path)
    elif layout == "selimsef_efficientnet_b7":  # DataParallel, {"state_dict": ..., "epoch": ..., "bce_best": ...}
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 20, "bce_best": 0.21},
                   path)
    elif layout == "ffpp_xception":  # the documented conversion: its state dict as safetensors
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:  # DeepfakeBench: torch.save(model.state_dict())
        torch.save(state, path)
    return path


CASES = {
    "deepfakebench_xception": (ref.deepfakebench_xception, ".pth"),
    "deepfakebench_efficientnetb4": (ref.deepfakebench_efficientnetb4, ".pth"),
    "sbi_efficientnet_b4": (ref.sbi_efficientnet_b4, ".tar"),
    "selimsef_efficientnet_b7": (ref.selimsef_efficientnet_b7, ".pth"),
    "ffpp_xception": (ref.ffpp_xception, ".safetensors"),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name -> (reference model, checkpoint path), built once."""
    tmp = tmp_path_factory.mktemp("public")
    cache = {}

    def get(name):
        if name not in cache:
            build, suffix = CASES[name]
            model = ref.randomize(build(), seed=len(cache))
            cache[name] = model, _save(model, name, tmp / f"{name}{suffix}")
        return cache[name]

    return get


def _x(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_every_registered_layout_is_tested():
    assert sorted(LAYOUTS) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_checkpoint_loads_strictly_and_gives_the_projects_outputs(written, name):
    model, path = written(name)
    layout = LAYOUTS[name]
    det = dfbench.load_detector(name, weights=path, input_size=SIZE)
    x = _x()
    mean, std = torch.tensor(layout.mean).view(3, 1, 1), torch.tensor(layout.std).view(3, 1, 1)
    with torch.no_grad():
        theirs = model((x - mean) / std)  # the project's own preprocessing and forward
        ours = det(x)
    if layout.head == "one logit, sigmoid":
        assert torch.allclose(det.score(x), torch.sigmoid(theirs[:, 0]), atol=1e-5)
    else:
        assert torch.allclose(ours, theirs, atol=1e-4), (ours, theirs)
        assert torch.allclose(det.score(x), theirs.softmax(1)[:, layout.fake_index], atol=1e-5)
    assert ours.std() > 0  # not a degenerate network: the comparison means something


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_renamed_key_is_named_in_the_error(written, name, tmp_path):
    model, _ = written(name)
    state = dict(model.state_dict())
    victim = sorted(k for k in state if k.endswith(".weight"))[3]
    state[victim.replace(".weight", ".weigth")] = state.pop(victim)
    path = tmp_path / "renamed.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(CheckpointError) as err:
        dfbench.load_detector(name, weights=path, input_size=SIZE)
    message = str(err.value)
    assert victim.removeprefix("module.") in message and "weigth" in message and "\n" not in message


def test_the_declared_normalization_and_polarity_are_applied(written):
    """A model fed the wrong normalization, or read with the other index, scores differently."""
    model, path = written("ffpp_xception")
    det = dfbench.load_detector("ffpp_xception", weights=path, input_size=SIZE)
    x = _x(4)
    with torch.no_grad():
        right = model((x - 0.5) / 0.5).softmax(1)[:, 1]
        unnormalized = model(x).softmax(1)[:, 1]
        assert torch.allclose(det.score(x), right, atol=1e-5)
        assert (det.score(x) - unnormalized).abs().max() > 1e-3  # the mean/std matter, and are applied
        flipped = dfbench.wrap(model, mean=(0.5,) * 3, std=(0.5,) * 3, fake_index=0, input_size=SIZE).eval()
        assert torch.allclose(flipped.score(x), 1 - right, atol=1e-5)


def test_the_dropout_head_variant_of_ffpp_loads(tmp_path):
    model = ref.randomize(ref.ffpp_xception(dropout=0.5))
    path = _save(model, "ffpp_xception", tmp_path / "dropout.safetensors")
    assert any(k.startswith("model.last_linear.1.") for k in model.state_dict())
    det = dfbench.load_detector("ffpp_xception", weights=path, input_size=SIZE)
    with torch.no_grad():
        assert torch.allclose(det(_x()), model((_x() - 0.5) / 0.5), atol=1e-4)


class _Boom:
    def __reduce__(self):
        import os

        return os.system, ("touch /tmp/dfbench-unpickled",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_whole_model_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "all_c23.p"
    with open(path, "wb") as f:
        pickle.dump({"model": _Boom()}, f)
    with pytest.raises(CheckpointError, match="never unpickles"):
        dfbench.load_detector("ffpp_xception", weights=path, input_size=SIZE)
    import os

    assert not os.path.exists("/tmp/dfbench-unpickled")


def test_another_layouts_checkpoint_says_which_it_looks_like(written):
    _, path = written("deepfakebench_xception")
    with pytest.raises(CheckpointError, match="looks like a deepfakebench_.* checkpoint"):
        dfbench.load_detector("ffpp_xception", weights=path, input_size=SIZE)
