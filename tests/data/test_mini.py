import torch

from dfbench.data import create_dataset
from dfbench.data.mini import build_mini


def test_shapes_range_and_balance(mini32):
    for name, split in mini32.splits.items():
        assert split.images.shape[1:] == (3, 32, 32), name
        assert split.images.dtype == torch.float32
        assert 0 <= split.images.min() and split.images.max() <= 1
        assert split.labels.float().mean() == 0.5, name  # as many fakes as reals
    assert {k: len(v) for k, v in mini32.splits.items()} == {"train": 960, "val": 160, "test": 160}


def test_split_by_source_image(mini32):
    sources = {k: set(v.sources.tolist()) for k, v in mini32.splits.items()}
    assert len(sources["train"]) == 60 and len(sources["val"]) == 20 and len(sources["test"]) == 20
    assert not sources["train"] & sources["val"]
    assert not sources["train"] & sources["test"]
    assert not sources["val"] & sources["test"]
    # every test source contributes reals and fakes
    test = mini32["test"]
    for s in sources["test"]:
        assert set(test.labels[test.sources == s].tolist()) == {0, 1}


def test_deterministic_for_a_seed():
    build_mini.cache_clear()
    a = create_dataset("mini", image_size=32, seed=3)
    build_mini.cache_clear()
    b = create_dataset("mini", image_size=32, seed=3)
    assert a.fingerprint == b.fingerprint
    assert torch.equal(a["test"].images, b["test"].images)
    c = create_dataset("mini", image_size=32, seed=4)
    assert c.fingerprint != a.fingerprint


def test_fresh_train_draws_keep_the_sources(mini32):
    assert torch.equal(mini32.train_draw(0).images, mini32["train"].images)
    again = mini32.train_draw(1)
    assert not torch.equal(again.images, mini32["train"].images)
    assert set(again.sources.tolist()) == set(mini32["train"].sources.tolist())


def test_resized_to_the_requested_size():
    d = create_dataset("mini", image_size=48)
    assert d["val"].images.shape[-2:] == (48, 48)


def test_fakes_differ_from_reals_in_the_face_region(mini32):
    # a trivial sanity check that fakes carry a signal: high-frequency energy of the
    # upsampling fakes (checkerboard) lifts the fakes' mean Laplacian energy above the reals'
    x, y = mini32["train"].images, mini32["train"].labels
    lap = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float32).view(1, 1, 3, 3)
    energy = torch.nn.functional.conv2d(x[:, :1], lap).pow(2).mean(dim=(1, 2, 3))
    assert energy[y == 1].mean() > 1.2 * energy[y == 0].mean()
