"""Public checkpoint layouts: a checkpoint written exactly as each project writes it, from an
architecture built to the project's own definition, loads strictly and gives the same outputs."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import dfbench
from dfbench.detectors.public import LAYOUTS
from dfbench.detectors.public.layout import Head
from dfbench.errors import CheckpointError

from . import reference_nets as ref

SIZE = 96  # every architecture here is size-agnostic (global pooling); small inputs keep the tests fast


def _state(model, layout: str) -> dict[str, torch.Tensor]:
    """``model``'s weights under the project's own key names."""
    return model.openai_state() if layout == "univfd_clip_vitl14" else dict(model.state_dict())


def _save(model, layout: str, path):
    """Write ``model``'s state dict the way ``layout``'s project writes its checkpoints."""
    state = _state(model, layout)
    if layout == "sbi_efficientnet_b4":  # train_sbi.py: torch.save({"model": ..., "optimizer": ..., "epoch": ...})
        torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.001}]}, "epoch": 12}, path)
    elif layout == "cnndetection_resnet50":  # base_model.py save_networks
        torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "total_steps": 9},
                   path)
    elif layout == "selimsef_efficientnet_b7":  # DataParallel, {"state_dict": ..., "epoch": ..., "bce_best": ...}
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 20, "bce_best": 0.21},
                   path)
    elif layout == "ffpp_xception":  # the documented conversion: its state dict as safetensors
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif layout == "univfd_clip_vitl14":  # the documented conversion of CLIP, UnivFD's fc_weights.pth beside it
        save_file(state, str(path))
        torch.save(OrderedDict(model.fc.state_dict()), path.with_name("fc_weights.pth"))
    else:  # DeepfakeBench, NPR: torch.save(model.state_dict())
        torch.save(state, path)
    return path


SMALL_CLIP = {"resolution": 28, "patch": 14, "width": 64, "layers": 2, "heads": 2}
CASES = {  # name -> (reference, file suffix, input side, the registered factory's parameters)
    "deepfakebench_xception": (ref.deepfakebench_xception, ".pth", SIZE, {}),
    "deepfakebench_efficientnetb4": (ref.deepfakebench_efficientnetb4, ".pth", SIZE, {}),
    "deepfakebench_core": (ref.deepfakebench_core, ".pth", SIZE, {}),
    "deepfakebench_spsl": (ref.deepfakebench_spsl, ".pth", SIZE, {}),
    "deepfakebench_meso4": (ref.deepfakebench_meso4, ".pth", 256, {}),  # its flatten needs 256 px
    "deepfakebench_f3net": (ref.deepfakebench_f3net, ".pth", 256, {}),  # its DCT matrices are 256 x 256
    "deepfakebench_meso4inception": (ref.deepfakebench_meso4inception, ".pth", 256, {}),
    "sbi_efficientnet_b4": (ref.sbi_efficientnet_b4, ".tar", SIZE, {}),
    "selimsef_efficientnet_b7": (ref.selimsef_efficientnet_b7, ".pth", SIZE, {}),
    "ffpp_xception": (ref.ffpp_xception, ".safetensors", SIZE, {}),
    "cnndetection_resnet50": (ref.cnndetection_resnet50, ".pth", SIZE, {}),
    "npr_resnet50": (ref.npr_resnet50, ".pth", SIZE, {}),
    "univfd_clip_vitl14": (lambda: ref.UnivFD(**{k: SMALL_CLIP[k] for k in ("width", "layers", "heads", "patch",
                                                                             "resolution")}), ".safetensors", 32,
                           SMALL_CLIP),
}


def _load(name, path):
    _, _, size, params = CASES[name]
    return dfbench.load_detector(name, weights=path, input_size=size, **params)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name -> (reference model, checkpoint path), built once."""
    tmp = tmp_path_factory.mktemp("public")
    cache = {}

    def get(name):
        if name not in cache:
            build, suffix, _, _ = CASES[name]
            model = ref.randomize(build(), seed=len(cache))
            folder = tmp / name  # a folder each: UnivFD's fc_weights.pth lies beside its file
            folder.mkdir()
            cache[name] = model, _save(model, name, folder / f"{name}{suffix}")
        return cache[name]

    return get


def _x(n: int = 2, size: int = SIZE) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_every_registered_layout_is_tested():
    assert sorted(LAYOUTS) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_checkpoint_loads_strictly_and_gives_the_projects_outputs(written, name):
    model, path = written(name)
    layout = LAYOUTS[name]
    det = _load(name, path)
    x = _x(size=CASES[name][2])
    mean, std = torch.tensor(layout.mean).view(3, 1, 1), torch.tensor(layout.std).view(3, 1, 1)
    with torch.no_grad():
        theirs = model((x - mean) / std)  # the project's own preprocessing and forward
        ours = det(x)
    if layout.head == Head.ONE_LOGIT:
        assert torch.allclose(det.score(x), torch.sigmoid(theirs[:, 0]), atol=1e-5)
    else:
        assert torch.allclose(ours, theirs, atol=1e-4), (ours, theirs)
        assert torch.allclose(det.score(x), theirs.softmax(1)[:, layout.fake_index], atol=1e-5)
    assert ours.std() > 0  # not a degenerate network: the comparison means something


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_renamed_key_is_named_in_the_error(written, name, tmp_path):
    model, _ = written(name)
    state = _state(model, name)
    victim = sorted(k for k in state if k.endswith(".weight"))[3]
    state[victim.replace(".weight", ".weigth")] = state.pop(victim)
    path = tmp_path / "renamed.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(CheckpointError) as err:
        _load(name, path)
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


# The zoo as data: identification by keys and shapes, a folder of downloads, the generated table.

def test_every_layout_is_identified_from_its_keys_and_shapes_alone(written, tmp_path):
    from dfbench.detectors.public.zoo import identify

    vitl14 = tmp_path / "clip.safetensors"  # the fixture's CLIP is small: ViT-L/14's own shapes are checked apart
    save_file({"visual.conv1.weight": torch.zeros(1024, 3, 14, 14), "visual.proj": torch.zeros(1024, 768)}, str(vitl14))
    assert [lay.name for lay in identify(vitl14)[0]] == ["univfd_clip_vitl14"]
    for name in set(CASES) - {"univfd_clip_vitl14"}:
        _, path = written(name)
        anonymous = tmp_path / f"weights{path.suffix}"  # the file's name says nothing
        anonymous.write_bytes(path.read_bytes())
        layouts, line = identify(anonymous)
        assert name in [lay.name for lay in layouts], (name, line)
        twins = {"deepfakebench_xception", "deepfakebench_core"}  # one architecture, two trainings
        assert len(layouts) == (2 if name in twins else 1), line


def test_a_clip_torchscript_archive_is_refused_without_running_it(tmp_path):
    from dfbench.detectors.public.zoo import identify

    path = tmp_path / "ViT-L-14.pt"
    torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(path))
    for attempt in (lambda: identify(path), lambda: dfbench.load_detector("univfd_clip_vitl14", weights=path)):
        with pytest.raises(CheckpointError, match="TorchScript archive .* never loads it") as err:
            attempt()
        assert "\n" not in str(err.value)


def test_a_folder_of_downloads_is_matched_by_release_name_then_by_keys(written, tmp_path, caplog):
    from dfbench.detectors.public.zoo import find_weights

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    for name, file in (("deepfakebench_meso4", "meso4_best.pth"), ("deepfakebench_core", "core_best.pth"),
                       ("deepfakebench_xception", "xception_best.pth"), ("npr_resnet50", "my_npr_copy.pth")):
        (shelf / file).write_bytes(written(name)[1].read_bytes())
    (shelf / "notes.txt").write_text("not weights")
    torch.save({"something": torch.zeros(3)}, shelf / "other.pth")
    found, missing = find_weights(shelf)
    assert {(f.layout.name, f.path.name, f.how) for f in found} == {
        ("deepfakebench_meso4", "meso4_best.pth", "file name"), ("deepfakebench_core", "core_best.pth", "file name"),
        ("deepfakebench_xception", "xception_best.pth", "file name"),
        ("npr_resnet50", "my_npr_copy.pth", "keys and shapes")}
    assert len(missing) == len(LAYOUTS) - 4 and any(m.startswith("univfd_clip_vitl14: not in") for m in missing)


def test_a_release_whose_published_sha256_differs_is_named_in_a_warning(tmp_path, caplog):
    from dfbench.detectors.public.layout import Layout, Release
    from dfbench.detectors.public.zoo import check_release

    path = tmp_path / "released.pth"
    torch.save({"w": torch.zeros(1)}, path)
    layout = Layout(name="x", project="p", input_size=8, mean=(0,) * 3, std=(1,) * 3, fake_index=1,
                    head=Head.TWO_LOGITS, root="", releases=(Release("released.pth", "0" * 64),))
    with caplog.at_level("WARNING"):
        check_release(layout, path)
    assert "x's release released.pth but its sha256 differs" in caplog.text


def test_the_docs_layout_table_is_generated_from_the_declarations():
    from dfbench.detectors.public.zoo import markdown_table

    docs = (Path(__file__).parents[2] / "docs" / "zoo.md").read_text()
    assert markdown_table() in docs, "docs/zoo.md's table differs from the declarations: paste markdown_table()"


def test_univfd_pads_a_small_image_with_black_as_torchvision_does(written):
    """Below the 224 (here 28) crop, torchvision's CenterCrop pads black pixels before normalizing."""
    from torchvision.transforms.functional import center_crop

    model, path = written("univfd_clip_vitl14")
    det = _load("univfd_clip_vitl14", path)
    x = _x(size=20)
    mean, std = torch.tensor(det.layout.mean).view(3, 1, 1), torch.tensor(det.layout.std).view(3, 1, 1)
    with torch.no_grad():
        theirs = torch.sigmoid(model.fc(model.clip(pixel_values=(center_crop(x, [28]) - mean) / std).image_embeds))
        assert torch.allclose(det.score(x), theirs[:, 0], atol=1e-5)


def test_npr_drops_the_last_row_and_column_of_odd_sides(written):
    model, path = written("npr_resnet50")
    det = _load("npr_resnet50", path)
    x = _x(size=33)
    mean, std = torch.tensor(det.layout.mean).view(3, 1, 1), torch.tensor(det.layout.std).view(3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(det.score(x), torch.sigmoid(model(((x - mean) / std)[..., :32, :32]))[:, 0], atol=1e-5)


def test_weights_dir_plans_one_pass_per_input_size(written, tmp_path):
    from dfbench.benchmark.grid import load_grid
    from dfbench.benchmark.overrides import zoo_grids

    shelf = tmp_path / "weights"
    shelf.mkdir()
    for name, file in (("deepfakebench_meso4", "meso4_best.pth"), ("npr_resnet50", "NPR.pth"),
                       ("ffpp_xception", "converted.safetensors")):
        (shelf / file).write_bytes(written(name)[1].read_bytes())
    grids, missing = zoo_grids(load_grid("public"), shelf)
    assert [(g.image_size, sorted((d.name, Path(d.weights).name) for d in g.detectors)) for g in grids] == [
        (256, [("deepfakebench_meso4", "meso4_best.pth"), ("npr_resnet50", "NPR.pth")]),
        (299, [("ffpp_xception", "converted.safetensors")])]
    assert len(missing) == len(LAYOUTS) - 3
    assert all(g.attacks == load_grid("public").attacks for g in grids)  # the grid's suite, unchanged


@pytest.mark.slow
def test_run_with_weights_dir_scores_every_zoo_detector_found_at_its_own_size(written, tmp_path, monkeypatch):
    """The public grid's command end to end on fixture checkpoints: Meso4 at 256 px and FaceForensics++'s
    Xception at 299 px (two passes of the grid), each scored as its own project scores it (about 1 minute)."""
    from typer.testing import CliRunner

    from dfbench.benchmark.store import Store
    from dfbench.cli import app

    monkeypatch.chdir(tmp_path)
    shelf = tmp_path / "weights"
    shelf.mkdir()
    (shelf / "meso4_best.pth").write_bytes(written("deepfakebench_meso4")[1].read_bytes())
    (shelf / "converted_ffpp.safetensors").write_bytes(written("ffpp_xception")[1].read_bytes())
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseed = 0\nbatch_size = 8\n[data]\ndataset = "mini"\nimage_size = 64\n'
                    'split = "test"\nmax_samples = 8\n[[detectors]]\nname = "custom_cnn"\n[[attacks]]\n'
                    'name = "fgsm"\neps = ["4/255"]\n')
    ffpp = _ffpp_tree(tmp_path / "ffpp")
    cli, env = CliRunner(), {"DFBENCH_CACHE": str(tmp_path / "cache")}
    dry = cli.invoke(app, ["run", "--grid", str(grid), "--weights-dir", str(shelf), "--dry-run"], env=env)
    assert dry.exit_code == 0 and dry.output.count("cells") >= 2, dry.output  # one estimate per input size
    ran = cli.invoke(app, ["run", "--grid", str(grid), "--weights-dir", str(shelf), "--out", "res",
                           "--dataset", "ffpp", "--data-root", str(ffpp)], env=env)
    assert ran.exit_code == 0, ran.output
    assert "not found: univfd_clip_vitl14: not in" in ran.output  # one line per layout not found
    records = Store(tmp_path / "res" / "results.sqlite").records().set_index("detector")
    assert set(records.index) == {"deepfakebench_meso4", "ffpp_xception"}
    assert records.loc["deepfakebench_meso4", "image_size"] == 256 and records.loc["ffpp_xception", "image_size"] == 299
    assert set(records.dataset) == {"ffpp"}
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))  # none trained
    bad = cli.invoke(app, ["run", "--grid", str(grid), "--weights-dir", str(tmp_path / "cache-nope")], env=env)
    assert bad.exit_code == 2 and bad.output.strip().splitlines()[-1].startswith("dfbench: error: --weights-dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli.invoke(app, ["run", "--grid", str(grid), "--weights-dir", str(empty)], env=env)
    assert none.exit_code == 2 and "no zoo detector's weights found" in none.output


def test_f3net_builds_the_dct_and_bands_as_deepfakebench_does():
    from dfbench.detectors import create_detector

    theirs = ref.deepfakebench_f3net().state_dict()
    ours = create_detector("deepfakebench_f3net").state_dict()
    for key in ("FAD_head._DCT_all", "FAD_head._DCT_all_T", *(f"FAD_head.filters.{i}.base" for i in range(4))):
        assert torch.allclose(ours[key], theirs[key], atol=1e-6), key


def _ffpp_tree(root):
    """FaceForensics++'s layout with two test pairs (tests/data/fixtures.py: MTCNN finds these faces)."""
    import json

    from tests.data.fixtures import face_frames, write_video

    (root / "splits").mkdir(parents=True)
    for split, pairs in {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    for i in range(6):
        write_video(root / "original_sequences/youtube/c23/videos" / f"{i:03d}.mp4", face_frames(i, 4))
    for a, b in (("004", "005"), ("005", "004")):
        write_video(root / "manipulated_sequences/Deepfakes/c23/videos" / f"{a}_{b}.mp4", face_frames(int(a), 4, True))
    return root


def test_a_fixed_size_network_at_another_size_is_one_line():
    from dfbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"deepfakebench_meso4 runs at 256 px only .* set image_size = 256"):
        dfbench.load_detector("deepfakebench_meso4", input_size=64)


def test_univfds_probe_beside_the_backbone_is_part_of_the_weights_digest(written, tmp_path):
    import shutil

    from dfbench.detectors import create_detector
    from dfbench.train.checkpoint import load_weights

    _, path = written("univfd_clip_vitl14")
    copy = tmp_path / "copy"
    shutil.copytree(path.parent, copy)
    det = create_detector("univfd_clip_vitl14", input_size=(32, 32), **SMALL_CLIP)
    before = load_weights(det, copy / path.name)
    probe = torch.load(copy / "fc_weights.pth", weights_only=True)
    torch.save(OrderedDict(weight=probe["weight"] + 1, bias=probe["bias"]), copy / "fc_weights.pth")
    after = load_weights(det, copy / path.name)
    assert after != before  # another probe is another detector
    from dfbench.errors import CheckpointError as Refused
    from dfbench.train.checkpoint import verify_weights

    verify_weights(copy / path.name, after, "univfd", "univfd_clip_vitl14")  # submit counts the probe as load does
    with pytest.raises(Refused, match="not the weights univfd was evaluated with"):
        verify_weights(copy / path.name, before, "univfd", "univfd_clip_vitl14")


def test_a_renamed_copy_of_a_twin_layout_is_not_guessed(written, tmp_path):
    """Xception and CORE share keys and shapes: a file under neither released name is neither."""
    from dfbench.detectors.public.zoo import find_weights

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "xception_best.pth").write_bytes(written("deepfakebench_xception")[1].read_bytes())
    (shelf / "renamed.pth").write_bytes(written("deepfakebench_core")[1].read_bytes())
    found, _ = find_weights(shelf)
    assert [(f.layout.name, f.path.name) for f in found] == [("deepfakebench_xception", "xception_best.pth")]
