"""The static leaderboard page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

from dfbench.leaderboards import write_entry
from dfbench.leaderboards.build import build

CHROMIUM = os.environ.get("DFBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium "
                                                        "(or set DFBENCH_CHROMIUM)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(lb_entries, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("lb")
    for entry in lb_entries:
        write_entry(root, entry)
    site, _ = build(root)
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page()
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto((site / "index.html").as_uri())
        tab.wait_for_selector("#leaderboard tbody tr")
        tab.wait_for_function("Array.from(document.images).every(i => i.complete)")
        yield tab, errors
        browser.close()


def column(tab, key):
    """The cell texts of one column, top to bottom."""
    index = tab.eval_on_selector_all("#leaderboard thead th", f"ths => ths.findIndex(t => t.dataset.key === '{key}')")
    return tab.eval_on_selector_all("#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent)")


def test_page_loads_without_console_errors(page):
    tab, errors = page
    assert errors == []
    assert tab.locator("#leaderboard tbody tr").count() == 3  # undefended + JPEG naive + JPEG adaptive
    assert tab.locator("#plots img").count() == 2
    assert all(tab.eval_on_selector_all("#plots img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"))


def test_plots_show_at_their_own_size(page, tmp_path):
    tab, _ = page
    curves = tab.locator("#plots img").first
    rendered, natural = curves.evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
    assert rendered >= 0.85 * natural  # not squeezed into a column: legend and ticks stay legible
    shot = tmp_path / "curves.png"
    curves.screenshot(path=str(shot))
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width >= 0.85 * natural and len(set(image.convert("L").getdata())) > 16  # drawn, not blank


def _value(text):
    """``0.458 [0.326, 0.597]`` -> 0.458 (the number; its interval follows in brackets)."""
    return float(text.split(" [")[0])


def test_every_rate_shows_its_interval_and_flags_their_cells(page, lb_entries):
    tab, _ = page
    plain = next(e for e in lb_entries if not e["defenses"])
    row = next(r for r in plain["robust"] if r["norm"] == "linf" and abs(r["eps"] - 8 / 255) < 1e-9)
    lo, hi = row["robust_acc_ci"]
    assert f"{row['robust_acc']:.3f} [{lo:.3f}, {hi:.3f}]" in column(tab, "linf 8/255")
    for key in ("clean_acc", "clean_auc", "worst_case", "evasion_rate", "framing_rate"):
        assert all(" [" in v and v.endswith("]") for v in column(tab, key) if v), key
    mark = tab.locator("#leaderboard tbody tr.flagged .flag").first
    assert "[naive]" in mark.get_attribute("title")  # hover names the cells behind the flag


def test_sorting_by_a_column_reorders_rows(page):
    tab, _ = page
    tab.click("#leaderboard th[data-key='linf 8/255']")
    down = [_value(v) for v in column(tab, "linf 8/255")]
    assert down == sorted(down, reverse=True) and len(set(down)) > 1
    assert tab.get_attribute("#leaderboard th[data-key='linf 8/255']", "aria-sort") == "descending"
    tab.click("#leaderboard th[data-key='linf 8/255']")
    assert [_value(v) for v in column(tab, "linf 8/255")] == sorted(down)
    tab.click("#leaderboard th[data-key='attack_mode']")
    assert column(tab, "attack_mode") == ["adaptive", "naive", ""]  # blanks last


def test_flagged_entries_are_marked(page, lb_entries):
    tab, _ = page
    flagged = tab.locator("#leaderboard tbody tr.flagged")
    rows = {e["defenses"]: 2 if e["defenses"] else 1 for e in lb_entries if e["flags"]}  # JPEG: naive, adaptive
    assert flagged.count() == sum(rows.values()) and rows.get("Jpeg(quality=75)") == 2
    assert "gradient_masking" in tab.locator("#leaderboard tbody tr.flagged", has_text="naive").locator(".flag").inner_text()
    assert tab.locator("#leaderboard tbody tr:not(.flagged) .flag").count() == 0


def test_threat_model_filter_hides_the_other_norm(page):
    tab, errors = page
    tab.select_option("#filter-norm", "l2")
    keys = tab.eval_on_selector_all("#leaderboard thead th", "ths => ths.map(t => t.dataset.key)")
    assert "l2 0.25" in keys and not any(k.startswith("linf") for k in keys)
    tab.select_option("#filter-norm", "")
    tab.select_option("#filter-dataset", "mini")
    assert tab.locator("#leaderboard tbody tr").count() == 3
    assert errors == []
