import pytest

from dfbench.benchmark.grid import load_grid, parse_eps
from dfbench.errors import ConfigError


@pytest.mark.parametrize("name", ["quick", "full", "defenses", "training"])
def test_shipped_grids_load(name):
    grid = load_grid(name)
    assert grid.cells() and grid.sha256
    assert all(0 <= c.eps for c in grid.cells())


def test_cells_expand_detector_attack_eps(tiny_grid_file):
    grid = load_grid(tiny_grid_file)
    assert len(grid.cells()) == 2 + 3 + 1
    assert grid.attacks[0].eps == (2 / 255, 4 / 255)
    keys = {c.key(grid, "w", "d") for c in grid.cells()}
    assert len(keys) == 6
    assert {c.seed(grid) for c in grid.cells()} != {grid.cells()[0].seed(grid)}


def test_eps_fractions():
    assert parse_eps("8/255", "x") == 8 / 255
    assert parse_eps(0.5, "x") == 0.5
    for bad in ("eight", "1/0", True, None):
        with pytest.raises(ConfigError):
            parse_eps(bad, "x")


def _grid(tmp_path, text):
    p = tmp_path / "g.toml"
    p.write_text(text)
    return p


BASE = '[data]\ndataset = "mini"\n[[detectors]]\nname = "test_tiny_cnn"\n'


@pytest.mark.parametrize("text,message", [
    ("this is = = not toml", "not valid TOML"),
    (BASE, "missing 'attacks'"),
    (BASE + '[[attacks]]\nname = "pgd"\neps = [0.1]\ncolour = 1\n', r"unknown parameter\(s\) colour"),
    (BASE + '[[attacks]]\nname = "nope"\neps = [0.1]\n', "unknown attack 'nope'"),
    (BASE + '[[attacks]]\nname = "pgd"\neps = []\n', "empty eps"),
    (BASE + '[[attacks]]\nname = "pgd"\neps = [0.1]\nbackend = "cleverhans"\n', "has backends"),
    (BASE + '[[attacks]]\nname = "fgsm"\nnorm = "l2"\neps = [0.1]\n', "supports norms"),
    ('typo = 1\n' + BASE + '[[attacks]]\nname = "pgd"\neps = [0.1]\n', "unknown key"),
    ('[data]\ndataset = "imagenet"\n[[detectors]]\nname = "x"\n', "unknown dataset 'imagenet'"),
    ('[data]\ndataset = "mini"\n[[detectors]]\nname = "nope"\n[[attacks]]\nname = "pgd"\neps = [0.1]\n',
     "unknown detector 'nope'"),
    (BASE.replace('"test_tiny_cnn"', '"test_tiny_cnn"\nweights = "/no/such.safetensors"')
     + '[[attacks]]\nname = "pgd"\neps = [0.1]\n', "does not exist"),
    ('[data]\ndataset = "mini"\nsplit = "dev"\n', "split must be"),
    (BASE.replace('"mini"', '"mini"\nframes = 4') + '[[attacks]]\nname = "pgd"\neps = [0.1]\n',
     r"unknown key\(s\) frames for dataset .mini."),
    (BASE.replace('"mini"', '"ffpp"\nroot = "/x"\ncompresion = "c40"') + '[[attacks]]\nname = "pgd"\neps = [0.1]\n',
     r"unknown key\(s\) compresion for dataset .ffpp."),
    (BASE + '[[attacks]]\nname = "apgd"\nbackend = "art"\neps = [0.1]\n', "has backends torchattacks"),
    (BASE + '[[attacks]]\nname = "cw"\nnorm = "linf"\neps = [0.1]\n', "supports norms l2"),
    (BASE + '[[attacks]]\nname = "pgd"\nnorm = "l2"\neps = [200.0]\n', "exceeds the largest distance"),
    (BASE + '[[attacks]]\nname = "pgd"\nnorm = "linf"\neps = [8]\n', "covers the whole"),
    (BASE + '[[attacks]]\nname = "transfer"\nsurrogate = "nope"\neps = [0.1]\n', "unknown detector 'nope'"),
    (BASE + '[[attacks]]\nname = "worst_case"\nattacks = [{name = "cw"}]\neps = [0.1]\n', "supports norms l2"),
])
def test_malformed_grids_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_grid(_grid(tmp_path, text))


def test_unknown_grid_name():
    with pytest.raises(ConfigError, match="neither a shipped grid"):
        load_grid("no-such-grid")


def test_a_worst_case_entry_is_one_unit_of_work(tmp_path):
    grid = load_grid(_grid(tmp_path, BASE + '[[attacks]]\nname = "pgd"\neps = [0.1, 0.2]\n'
                           '[[attacks]]\nname = "worst_case"\nattacks = [{name = "fgsm"}]\neps = [0.1, 0.2]\n'))
    units = grid.units(grid.detectors[0])
    assert [len(u) for u in units] == [1, 1, 2]
    assert [c.eps for c in units[-1]] == [0.1, 0.2]


def test_a_defense_wraps_only_the_detectors_it_names(tmp_path):
    text = ('[data]\ndataset = "mini"\n[[detectors]]\nname = "test_tiny_cnn"\n[[detectors]]\nname = "custom_cnn"\n'
            '[[attacks]]\nname = "pgd"\neps = [0.1]\n'
            '[[defenses]]\nchain = [{ name = "jpeg" }]\ndetectors = ["custom_cnn"]\n')
    grid = load_grid(_grid(tmp_path, text))
    tiny, cnn = grid.detectors
    assert len(grid.cells(tiny)) == 1 and len(grid.cells(cnn)) == 3  # undefended; jpeg naive + adaptive
    with pytest.raises(ConfigError, match="not in the grid"):
        load_grid(_grid(tmp_path, text.replace('["custom_cnn"]', '["xception"]')))


def test_a_defense_for_plain_training_skips_trained_variants_of_the_same_name(tmp_path):
    text = ('[data]\ndataset = "mini"\n[[detectors]]\nname = "test_tiny_cnn"\n'
            '[[detectors]]\nname = "test_tiny_cnn"\ntraining = { temperature = 5 }\n'
            '[[attacks]]\nname = "pgd"\neps = [0.1]\n'
            '[[defenses]]\nchain = [{ name = "jpeg" }]\ndetectors = ["test_tiny_cnn"]\n')
    plain, distilled = load_grid(_grid(tmp_path, text)).detectors
    assert [len(load_grid(_grid(tmp_path, text)).cells(d)) for d in (plain, distilled)] == [3, 3]
    grid = load_grid(_grid(tmp_path, text + 'training = "plain"\n'))
    assert [len(grid.cells(d)) for d in grid.detectors] == [3, 1]  # the distilled one: undefended only
    with pytest.raises(ConfigError, match='training must be "any"'):
        load_grid(_grid(tmp_path, text + 'training = "adversarial"\n'))


def test_the_full_grid_defends_only_the_plain_custom_cnn():
    grid = load_grid("full")
    assert {len(grid.views(d)) for d in grid.detectors if d.name == "custom_cnn" and d.training} == {1}
    assert len(grid.views(grid.detector_spec("custom_cnn"))) == 1 + 2 * len(grid.defenses)


def test_the_full_grid_has_every_defense_and_training_time_defense():
    from dfbench.defenses import defenses

    grid = load_grid("full")
    assert {name for d in grid.defenses for name, _ in d.chain} == set(defenses.names())
    assert {d.training_name.split("(")[0] for d in grid.detectors} == {"", "fgsm-at", "pgd-at", "distilled"}


def test_dataset_parameters_reach_the_grid_and_the_cell_key():
    from dfbench.benchmark.grid import parse_grid

    doc = {"data": {"dataset": "ffpp", "root": "/data/ff", "frames": 16, "compression": "c40"},
           "detectors": [{"name": "test_tiny_cnn"}], "attacks": [{"name": "fgsm", "eps": [0.1]}]}
    grid = parse_grid(doc)
    assert grid.data_params == {"root": "/data/ff", "frames": 16, "compression": "c40"}
    assert grid.dataset_kwargs() == {"image_size": 64, "root": "/data/ff", "frames": 16, "compression": "c40"}
    other = parse_grid({**doc, "data": {**doc["data"], "frames": 8}})
    cell, other_cell = grid.cells()[0], other.cells()[0]
    assert cell.key(grid, "w", "f") != other_cell.key(other, "w", "f")
    plain = parse_grid({**doc, "data": {"dataset": "mini"}})
    assert "data_params" not in plain.cells()[0].spec(plain)  # keys of existing stores are unchanged


def test_paths_in_a_grid_file_are_relative_to_the_file(tmp_path, monkeypatch):
    import tomllib
    from pathlib import Path

    from dfbench.benchmark.grid import resolve_paths
    from tests.conftest import tiny_grid

    folder = tmp_path / "grids"
    (tmp_path / "weights").mkdir()
    folder.mkdir()
    weights = tmp_path / "weights" / "w.safetensors"
    weights.write_bytes(b"not read at load")
    text = tiny_grid("rel", '[[attacks]]\nname = "fgsm"\neps = ["2/255"]\n').replace(
        'name = "test_tiny_cnn"', 'name = "test_tiny_cnn"\nweights = "../weights/w.safetensors"')
    (folder / "rel.toml").write_text(text)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # another working directory: the file's folder still counts
    assert load_grid(folder / "rel.toml").detectors[0].weights == str(weights.resolve())
    monkeypatch.chdir(tmp_path)  # below the working directory: relative to it, no machine's absolute path
    assert load_grid(folder / "rel.toml").detectors[0].weights == "weights/w.safetensors"
    weights.unlink()
    with pytest.raises(ConfigError, match="weights file weights/w.safetensors does not exist"):
        load_grid(folder / "rel.toml")
    home = tiny_grid("home", '[[attacks]]\nname = "fgsm"\neps = ["2/255"]\n').replace(
        'dataset = "mini"', 'dataset = "mini"\ncache_dir = "~/crops"')
    assert resolve_paths(tomllib.loads(home), folder)["data"]["cache_dir"] == str(Path.home() / "crops")


def test_a_baseline_names_its_grid_file_relative_to_the_working_directory(tmp_path, monkeypatch):
    from dfbench.leaderboards.check import portable_grid

    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / "g.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert portable_grid(str(tmp_path / "grids" / "g.toml")) == "grids/g.toml"
    assert portable_grid("quick") == "quick"


def test_cws_stop_at_budget_is_part_of_the_cell_key():
    """It changes the stored examples (their AUC and sizes), so a store never mixes the two."""
    from dfbench.benchmark.grid import parse_grid

    doc = {"data": {"dataset": "mini"}, "detectors": [{"name": "test_tiny_cnn"}],
           "attacks": [{"name": "cw", "eps": [0.5], "steps": 5}]}
    plain = parse_grid(doc)
    stop = parse_grid({**doc, "attacks": [{**doc["attacks"][0], "stop_at_budget": True}]})
    assert plain.cells()[0].key(plain, "w", "d") != stop.cells()[0].key(stop, "w", "d")
    with pytest.raises(ConfigError, match="stop_at_budget"):
        parse_grid({**doc, "attacks": [{**doc["attacks"][0], "stop_at_budget": True, "backend": "foolbox"}]})


def test_worst_case_cells_that_attack_a_randomized_view_carry_its_rules_in_their_key():
    """How the worst case treats a randomized view changed (RANDOMIZED_RULES): those cells' keys say
    so, and every other cell's key is as it was (its stored numbers hold)."""
    from dfbench.benchmark.grid import parse_grid

    def has_rules(table: str, view: dict, attack: str = "worst_case") -> dict[bool, bool]:
        """adaptive -> whether the cell's spec holds the rules"""
        entry = {"name": "worst_case", "attacks": [{"name": "fgsm"}]} if attack == "worst_case" else {"name": attack}
        doc = {"data": {"dataset": "mini"}, "detectors": [{"name": "test_tiny_cnn"}],
               "attacks": [{**entry, "eps": [0.1]}], table: [view]}
        grid = parse_grid(doc)
        return {c.adaptive: c.spec(grid).get("randomized_rules") == 1 for c in grid.cells() if c.defense}

    assert has_rules("defenses", {"chain": [{"name": "random_resize_pad"}]}) == {False: True, True: True}
    assert has_rules("defenses", {"chain": [{"name": "random_resize_pad"}]}, "fgsm") == {False: False, True: False}
    assert has_rules("defenses", {"chain": [{"name": "jpeg"}]}) == {False: False, True: False}
    # a naive attack on a channel crafts on the bare detector
    assert has_rules("channels", {"jpeg": {"quality": [60, 95]}}) == {False: False, True: True}
    assert has_rules("channels", {"jpeg": {"quality": 75}}) == {False: False, True: False}
