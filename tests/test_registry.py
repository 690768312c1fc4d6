from importlib.metadata import EntryPoint

import pytest

from dfbench import _registry
from dfbench._registry import Registry
from dfbench.errors import ConfigError, UnknownComponentError


def make(**kw):
    return ("made", kw)


def other(**kw):
    return ("other", kw)


def test_register_create_and_names():
    reg = Registry("widget", "dfbench.test_widgets")
    reg.register("a")(make)
    assert reg.create("a", x=1) == ("made", {"x": 1})
    assert reg.names() == ["a"] and "a" in reg and "b" not in reg


def test_duplicate_name_is_an_error():
    reg = Registry("widget", "dfbench.test_widgets")
    reg.add("a", make)
    reg.add("a", make)  # the same factory twice (a re-import) is harmless
    with pytest.raises(ValueError, match="duplicate widget name 'a'"):
        reg.add("a", other)


def test_unknown_name_lists_known_ones():
    reg = Registry("widget", "dfbench.test_widgets")
    reg.add("alpha", make)
    with pytest.raises(UnknownComponentError, match="unknown widget 'beta'; known: alpha"):
        reg.create("beta")


def test_bad_parameters_become_config_errors():
    reg = Registry("widget", "dfbench.test_widgets")
    reg.add("strict", lambda *, size: size)
    with pytest.raises(ConfigError, match="widget 'strict'"):
        reg.create("strict", colour="red")


def test_entry_points_are_discovered(monkeypatch):
    ep = EntryPoint(name="plugin_widget", value="tests.test_registry:other", group="dfbench.test_widgets")
    broken = EntryPoint(name="broken", value="no_such_module:thing", group="dfbench.test_widgets")
    monkeypatch.setattr(_registry, "entry_points", lambda group: [ep, broken] if group == ep.group else [])
    reg = Registry("widget", "dfbench.test_widgets")
    assert reg.names() == ["plugin_widget"]  # the broken plugin is skipped with a warning
    assert reg.create("plugin_widget")[0] == "other"


def test_shipped_registries_have_the_papers_components():
    import dfbench

    assert {"custom_cnn", "hybrid_cnn_lstm_model0", "hybrid_cnn_lstm_model1", "hybrid_cnn_lstm_model2",
            "test_tiny_cnn"} <= set(dfbench.list_detectors())
    assert {"fgsm", "pgd"} <= set(dfbench.list_attacks())
    assert "mini" in dfbench.list_datasets()
