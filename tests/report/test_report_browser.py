"""The report in a real headless Chromium: no console errors, every plot drawn, a real screenshot."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import pytest
from _fake_run import make_fake_run

from hpscout.report import PLOT_KEYS, build_report

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"headless browser test needs {', '.join(missing)}")
        pytest.skip(f"{', '.join(missing)} not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


_RENDERED = """
const out = {};
for (const fig of document.querySelectorAll('figure[data-plot]')) {
  out[fig.dataset.plot] = fig.querySelector('.main-svg') ? 'plot' : (fig.querySelector('.plotnote') ? 'note' : 'empty');
}
return out;
"""


def _load(driver, page: Path) -> dict[str, str]:
    driver.get(page.resolve().as_uri())
    deadline = time.monotonic() + 30
    state: dict[str, str] = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(_RENDERED)
        if len(state) == len(PLOT_KEYS) and "empty" not in state.values():
            break
        time.sleep(0.2)
    return state


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_full_report_renders(driver, tmp_path):
    run = make_fake_run(tmp_path)
    page = build_report(run.run_dir, storage=run.storage)
    state = _load(driver, page)
    assert state == {k: "plot" for k in PLOT_KEYS}
    assert _severe(driver) == []
    # plotly drew real marks, not just empty axes
    assert driver.execute_script("return document.querySelectorAll('#plot-history .point').length") >= 8
    assert driver.execute_script("return document.querySelectorAll('table.trials tbody tr').length") == 12

    shot = tmp_path / "report.png"
    driver.set_window_size(1280, 1600)
    assert driver.save_screenshot(str(shot))
    data = shot.read_bytes()
    width, height = _png_size(data)
    assert width >= 1000 and height >= 1000 and len(data) > 50_000
    pil = pytest.importorskip("PIL.Image")
    with pil.open(shot) as im:
        colors = im.convert("RGB").resize((64, 64)).getcolors(64 * 64)
    assert colors is not None and len(colors) > 20  # not a blank page


def test_no_data_notes_render(driver, tmp_path):
    run = make_fake_run(tmp_path, with_analysis=False)
    page = build_report(run.run_dir, storage=run.storage)
    state = _load(driver, page)
    assert {k for k, v in state.items() if v == "note"} == {"importance", "ablation", "transfer", "climb", "lr_law"}
    assert "empty" not in state.values()
    assert _severe(driver) == []


def test_page_needs_no_network(driver, tmp_path):
    """Copied anywhere, the page still draws: nothing is fetched from beside it or from the web."""
    run = make_fake_run(tmp_path / "run")
    page = build_report(run.run_dir, storage=run.storage)
    lone = tmp_path / "elsewhere" / "index.html"
    lone.parent.mkdir()
    shutil.copy(page, lone)
    state = _load(driver, lone)
    assert set(state.values()) == {"plot"}
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))")
    assert resources == []
