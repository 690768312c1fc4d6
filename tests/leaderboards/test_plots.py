"""Leaderboard plots are readable: the legend outside the panels, a distinct colour per entry,
L-inf budgets as k/255."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pytest

from dfbench.leaderboards import plots


@pytest.fixture
def drawn(lb_entries, tmp_path, monkeypatch):
    """The curves figure of the test entries, kept open for inspection."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig) or path)
    assert plots.robustness_curves(lb_entries, tmp_path / "curves.png") is not None
    yield kept[0]
    plt.close(kept[0])


def test_the_legend_sits_outside_every_panel(drawn):
    drawn.canvas.draw()
    renderer = drawn.canvas.get_renderer()
    legends = [ax.get_legend() for ax in drawn.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in drawn.axes)


def test_each_entry_has_its_own_colour_and_linf_ticks_read_k_over_255(drawn, lb_entries):
    linf = next(ax for ax in drawn.axes if ax.get_title().startswith("linf"))
    labels = [t.get_text() for t in linf.get_xticklabels()]
    assert "8/255" in labels and not any(len(t) > 6 and t.startswith("0.0") for t in labels)
    colours = {}
    for line in linf.get_lines():
        if line.get_label().startswith("_"):  # seaborn's helper lines
            continue
        colours.setdefault(line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color()), 0)
    legend = drawn.axes[-1].get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    entries = set(plots.labels(lb_entries))
    assert entries <= set(names)
    handles = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    entry_colours = [tuple(handles[name].get_color()) for name in entries]
    for a, b in itertools.combinations(entry_colours, 2):
        assert max(abs(x - y) for x, y in zip(a, b)) > 0.15  # clearly different, not two shades of one hue


def test_palette_stays_distinct_beyond_ten_entries():
    colours = plots._palette(14)
    assert len({tuple(round(c, 3) for c in colour) for colour in colours}) == 14


def test_one_detector_under_two_protocols_is_two_lines_not_an_average(lb_entries):
    other = [{**e, "protocol": "another@0123abcd"} for e in lb_entries]
    names = plots.labels(lb_entries + other)
    assert len(set(names)) == 2 * len(set(plots.labels(lb_entries)))
    assert all(name.endswith(("(another)",)) for name in plots.labels(lb_entries + other)[len(lb_entries):])
