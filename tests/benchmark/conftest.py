import pytest

from tests.conftest import tiny_grid

TINY_GRID = tiny_grid("tiny", """
[[attacks]]
name = "fgsm"
eps = ["2/255", "4/255"]
[[attacks]]
name = "pgd"
norm = "linf"
steps = 3
eps = ["2/255", "4/255", "8/255"]
[[attacks]]
name = "pgd"
norm = "l2"
steps = 3
eps = [0.25]
""", batch_size=24)


@pytest.fixture
def tiny_grid_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_GRID)
    return path


THREAT_GRID = """
name = "threats"
seed = 0
batch_size = 48
[data]
dataset = "mini"
image_size = 32
split = "test"
max_samples = 48
[[detectors]]
name = "custom_cnn"
[[detectors]]
name = "test_tiny_cnn"
[[attacks]]
name = "fgsm"
backend = "art"
eps = [0, "4/255"]
[[attacks]]
name = "pgd"
backend = "foolbox"
steps = 5
eps = [0, "4/255"]
[[attacks]]
name = "transfer"
surrogate = "test_tiny_cnn"
steps = 5
eps = ["4/255"]
[[attacks]]
name = "square"
n_queries = 50
eps = ["4/255"]
[[attacks]]
name = "worst_case"
attacks = [{name = "fgsm"}, {name = "pgd", steps = 5}]
eps = ["2/255", "4/255"]
"""
