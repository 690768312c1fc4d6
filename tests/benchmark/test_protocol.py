"""Protocols: the published standard suite is frozen, and numbers of different protocols never rank together."""

import tomllib

import pytest
import torch

import dfbench
from dfbench.benchmark.grid import GRIDS_DIR, load_grid, parse_grid
from dfbench.benchmark.protocol import PUBLISHED
from dfbench.errors import ConfigError
from dfbench.leaderboards.rates import rate
from dfbench.leaderboards.table import leaderboard


def _doc(name: str) -> dict:
    return tomllib.loads((GRIDS_DIR / f"{name}.toml").read_text())


def test_each_published_protocol_is_its_shipped_grid_unchanged():
    for name, (_, grid) in PUBLISHED.items():
        assert load_grid(grid).protocol.startswith(f"{name}@")  # the digest check ran at load


def test_the_standard_suite_is_autoattacks_members_at_full_strength():
    members = [m for a in load_grid("standard").attacks for m in a.params["attacks"]]
    assert {(m["name"], m.get("loss", "ce")) for m in members} == {("apgd", "ce"), ("apgd", "margin"),
                                                                    ("pgd", "margin"), ("square", "ce")}
    assert all(m["steps"] >= 50 for m in members if m["name"] != "square")
    assert all(m["n_queries"] == 5000 for m in members if m["name"] == "square")
    assert any(m.get("schedule") == "cosine" for m in members)


V1_MEMBERS = [{"name": "apgd", "backend": "native", "steps": 100},
              {"name": "apgd", "backend": "native", "steps": 100, "loss": "margin"},
              {"name": "pgd", "backend": "native", "steps": 50, "loss": "margin", "restarts": 3},
              {"name": "square", "n_queries": 5000}]


def test_standard_v3_is_v1_with_one_member_more_before_square():
    """Every standard-v1 member runs in v3 (v2's suite) with the same parameters and in the same place in
    the cascade; the annealed margin PGD comes in before Square (whose seed, the grid's + its index, moves)."""
    v3 = load_grid("standard")
    assert v3.protocol.startswith("standard-v3@")
    assert [(a.norm, len(a.eps)) for a in v3.attacks] == [("linf", 4), ("l2", 3)]
    for a in v3.attacks:
        m = a.params["attacks"]
        assert m[:3] + m[4:] == V1_MEMBERS
        assert m[3] == {"name": "pgd", "backend": "native", "steps": 200, "loss": "margin", "schedule": "cosine",
                        "restarts": 2}


@pytest.mark.parametrize("change", [
    lambda d: d["attacks"][0]["attacks"][0].update(steps=20),
    lambda d: d["attacks"][0]["eps"].pop(),
    lambda d: d.update(seed=1),
    lambda d: d.update(batch_size=40),
])
def test_a_grid_that_claims_a_published_protocol_must_run_it(change):
    doc = _doc("standard")
    change(doc)
    with pytest.raises(ConfigError, match="protocol 'standard-v3' is the shipped 'standard' grid"):
        parse_grid(doc, "mine.toml")


@pytest.mark.parametrize("old, why", [("standard-v1", "ATTACK_RULES 3"), ("standard-v2", "RANDOMIZED_RULES 1")])
def test_a_retired_protocol_cannot_be_claimed_even_with_its_suite(old, why):
    """Its numbers came from other output rules: the same suite under this code is the current version."""
    with pytest.raises(ConfigError, match=f"protocol '{old}' is retired .*{why}.*'standard-v3'"):
        parse_grid({**_doc("standard"), "protocol": old}, "mine.toml")


def test_the_output_rules_are_part_of_the_protocol(monkeypatch):
    """A change of how attacks choose their output is a change of numbers: another digest, and the
    published name refuses it."""
    before = load_grid("quick").protocol
    monkeypatch.setattr("dfbench.benchmark.protocol.RANDOMIZED_RULES", 2)
    assert load_grid("quick").protocol != before
    with pytest.raises(ConfigError, match="protocol 'standard-v3' is the shipped 'standard' grid"):
        load_grid("standard")


def test_the_protocol_follows_the_suite_and_data_but_not_the_detectors():
    doc = _doc("standard")
    base = parse_grid(doc).protocol
    assert parse_grid({**doc, "detectors": [{"name": "meso4"}]}).protocol == base
    assert parse_grid({**doc, "data": {**doc["data"], "max_samples": 80}}).protocol != base
    assert parse_grid({**doc, "data": {**doc["data"], "image_size": 32}}).protocol != base
    assert load_grid("quick").protocol.startswith("quick@")
    with pytest.raises(ConfigError, match="protocol must be a string"):
        parse_grid({**doc, "protocol": 1})


def _entry(name: str, protocol: str | None, worst: float) -> dict:
    entry = {"name": name, "detector": name, "training": "", "defenses": "", "weights_sha256": "ab" * 32,
             "dataset": {"name": "mini", "n_samples": 160}, "flags": [],
             "clean": {**rate("acc", 128, 160), "auc": 0.9, "auc_ci": [0.85, 0.95]},
             "provenance": {"grid": "quick", "grid_sha256": "cd" * 32},
             "robust": [{"attack_mode": "", "norm": "linf", "eps": 8 / 255,
                         **rate("robust_acc", round(worst * 160), 160),
                         **rate("evasion_rate", 40, 80), **rate("framing_rate", 10, 48), "auc": 0.6,
                         "auc_ci": [0.5, 0.7], "eer": 0.4}]}
    return entry | ({"protocol": protocol} if protocol else {})


def test_entries_rank_only_among_their_protocol():
    table = leaderboard([_entry("a", "standard-v1@12345678", 0.10), _entry("b", "standard-v1@12345678", 0.20),
                         _entry("c", None, 0.50), _entry("d", "evaluate@87654321", 0.40)])
    ranks = dict(zip(table.name, table["rank"]))
    assert ranks == {"b": 1, "a": 2, "c": 1, "d": 1}
    assert dict(zip(table.name, table.protocol))["c"] == "quick@cdcdcdcd"  # an old entry: its grid file


@pytest.mark.slow  # slow: the whole standard suite on a tiny model (~25 s); its digest is checked in the default run
def test_evaluate_runs_the_standard_protocol_by_default():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2)).eval()
    results = dfbench.evaluate(net, image_size=16, max_samples=8, threshold=0.5)
    assert results.records.protocol.str.startswith("standard-v3@").all()
    assert set(results.records.norm) == {"linf", "l2"} and len(results.records) == 7
    assert results.entry()["protocol"].startswith("standard-v3@")
    custom = dfbench.evaluate(net, image_size=16, max_samples=8, threshold=0.5,
                              attacks=[{"name": "fgsm", "eps": ["8/255"]}])
    assert custom.records.protocol.str.startswith("evaluate@").all()


def test_the_digest_sees_attacks_as_they_run_and_any_grid_name_fits_an_entry():
    doc = _doc("quick")
    spelled_out = {**doc, "attacks": list(doc["attacks"])}
    assert spelled_out["attacks"][1]["name"] == "pgd"
    spelled_out["attacks"][1] = {**doc["attacks"][1], "random_start": True}  # pgd's default, written out
    assert parse_grid(spelled_out).protocol == parse_grid(doc).protocol
    assert parse_grid({**doc, "name": "my grid / v2 " + "x" * 80}).protocol.split("@")[0] == "my-grid-v2-" + "x" * 53
