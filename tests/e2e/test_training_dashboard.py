"""The training dashboard in a real JupyterLab under headless Chromium: run the notebook, press Start, watch the
health table fill and the progress bar complete, train the prior, keep a screenshot (artifacts/)."""
import os, shutil, sys, time
from pathlib import Path

import pytest

from e2e_lab import CHROMIUM, JupyterLab, lab_page, open_notebook, stop_process, wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NOTEBOOK = HERE / "training_dashboard.ipynb"
SCREENSHOT = ROOT / "artifacts" / "e2e_training_dashboard.png"
LEVELS = 3   # the notebook keeps the default number of RVQ levels

pytestmark = pytest.mark.e2e

# what the page shows, read in one go; the test waits on it and reports it when something goes wrong
STATE_JS = """() => {
  const q = s => document.querySelector('.distill-train ' + s);
  const bar = s => { const b = q(s + ' .progress-bar'); return b ? b.style.width : null; };
  return {
    health_rows: document.querySelectorAll('.distill-train table.distill-health tr').length,
    progress: bar('.distill-progress'),
    status: (q('.distill-status-line') || {}).innerText || '',
    error: !!q('.distill-status-error'),
    heatmap: !!(q('img.distill-heatmap') && q('img.distill-heatmap').naturalWidth > 0),
    verdict: (q('.distill-verdict') || {}).innerText || '',
    prior_progress: bar('.distill-prior-progress'),
    prior_status: (q('.distill-prior-status-line') || {}).innerText || '',
    prior_error: !!q('.distill-prior-status-line .distill-status-error'),
    prior_plot: !!(q('img.distill-prior-plot') && q('img.distill-prior-plot').naturalWidth > 0),
  };
}"""


def _state(page) -> dict: return page.evaluate(STATE_JS)


def _training_done(page):
    s = _state(page)
    if s["error"]: raise AssertionError(f"the dashboard reports an error: {s['status']}")
    return s if s["health_rows"] == 1 + LEVELS and s["progress"] == "100%" and s["heatmap"] and "Finished" in s["status"] else None


def _prior_done(page):
    s = _state(page)
    if s["prior_error"]: raise AssertionError(f"the prior panel reports an error: {s['prior_status']}")
    return s if s["prior_progress"] == "100%" and s["prior_plot"] and "Prior trained" in s["prior_status"] else None


def test_training_dashboard_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium); under CI=true this test runs and fails instead")
    root, work = tmp_path / "root", tmp_path / "work"
    root.mkdir(); work.mkdir()
    shutil.copy(NOTEBOOK, root)
    lab = JupyterLab(root, tmp_path / "jupyter", env={"DISTILL_E2E_WORK": str(work), "DISTILL_HOME": str(tmp_path / "library")})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    t0, times = time.time(), {}
    try:
        lab.start(); times["lab ready"] = time.time() - t0
        with lab_page(lab) as page:
            try:
                open_notebook(page, lab, NOTEBOOK.name)
                start = page.locator(".distill-train button.distill-start")
                start.wait_for(timeout=120_000); times["dashboard shown"] = time.time() - t0
                # the kernel is the interpreter running this test (the project's venv)
                kernel_python = (work / "kernel.txt").read_text().splitlines()[0]
                assert kernel_python == sys.executable, f"kernel runs {kernel_python}, expected {sys.executable}"

                start.click()
                s = wait_until(page, lambda: _training_done(page), 180, "the health table and a complete progress bar")
                times["trained"] = time.time() - t0
                # the job ends once the trained model's listening preview is made (a few reconstructions)
                wait_until(page, lambda: start.is_enabled() or None, 120, "Start enabled again after the preview")
                assert s["verdict"].strip(), "no health sentence after training"
                assert page.locator(".distill-train img.distill-plot").evaluate("img => img.naturalWidth") > 0

                page.locator(".distill-train button.distill-prior-start").click()
                wait_until(page, lambda: _prior_done(page), 180, "the prior's perplexity plot and a complete progress bar")
                times["prior trained"] = time.time() - t0
                page.locator(".distill-train").screenshot(path=str(SCREENSHOT))
            except Exception:
                page.screenshot(path=str(SCREENSHOT.with_name("e2e_training_dashboard_failure.png")), full_page=True)
                print("page state:", _state(page), "\nJupyterLab log:\n", lab.log(), file=sys.stderr)
                raise
    finally:
        lab.stop()
        kernel = work / "kernel.txt"
        if kernel.exists(): stop_process(int(kernel.read_text().splitlines()[1]))
    assert SCREENSHOT.stat().st_size > 10_000
    times["shut down"] = time.time() - t0
    print("e2e timeline (s):", ", ".join(f"{k} {v:.1f}" for k, v in times.items()), f"— screenshot {SCREENSHOT}")
