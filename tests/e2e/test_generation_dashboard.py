"""The generation dashboard in a real JupyterLab under headless Chromium: nothing empty or broken before the first
take; Generate and Next seed add takes (player, spectrogram, novelty) made in a background thread; Keep, Discard and
Save act from the browser; a screenshot is kept (artifacts/)."""
import os, sys
from pathlib import Path

import nbformat
import pytest

from e2e_lab import CHROMIUM, JupyterLab, lab_page, open_notebook, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "e2e_generation_dashboard.png"

pytestmark = pytest.mark.e2e

NOTEBOOK = """import os, sys
from pathlib import Path
from distill.data import synth_demo_corpus
from distill.audio import AudioParams
from distill.train import train_vqvae, TrainParams
from distill.prior import train_prior, PriorTrainParams
from distill.ui.generate import GenerationDashboard
work = Path(os.environ["DISTILL_E2E_WORK"])
(work / "kernel.txt").write_text(f"{sys.executable}\\n{os.getpid()}\\n")   # the test stops this process
synth_demo_corpus(work / "demo", n_files=12)
for _ in train_vqvae(work / "demo", work / "tiny.distill", params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False),
                     audio=AudioParams(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, griffin_lim_iters=16),
                     hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1): pass
for _ in train_prior(work / "tiny.distill", work / "demo", PriorTrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, device="cpu"),
                     d_model=32, n_layers=1, n_heads=2, window=16): pass
dash = GenerationDashboard(work / "tiny.distill", save_as=work / "out" / "generated.wav")
dash.count.value, dash.duration.value = 2, 1.0
dash"""

# what the page shows, read in one go
STATE_JS = """() => {
  const root = document.querySelector('.distill-generate');
  if (!root) return null;
  const takes = Array.from(root.querySelectorAll('.distill-take'));
  const imgs = Array.from(root.querySelectorAll('img'));
  return {
    status: (root.querySelector('.distill-status-line') || {}).innerText || '',
    error: !!root.querySelector('.distill-status-line .distill-status-error'),
    save: (root.querySelector('.distill-save-status') || {}).innerText || '',
    takes: takes.map(t => t.innerText),
    images: imgs.length, broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    players: root.querySelectorAll('audio').length,
    empty_players: Array.from(root.querySelectorAll('audio')).filter(a => !a.src && !a.querySelector('source[src]')).length,
    labels: Array.from(root.querySelectorAll('.widget-label')).filter(l => l.offsetParent !== null).map(l => l.innerText.trim()),
    visible_players: Array.from(root.querySelectorAll('audio')).filter(a => a.offsetParent !== null).length,
  };
}"""


def test_generation_dashboard_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium); under CI=true this test runs and fails instead")
    root, work = tmp_path / "root", tmp_path / "work"
    root.mkdir(); work.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK)]
    nbformat.write(nb, root / "generate.ipynb")
    lab = JupyterLab(root, tmp_path / "jupyter", env={"DISTILL_E2E_WORK": str(work), "DISTILL_HOME": str(tmp_path / "library")})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    state = lambda: page.evaluate(STATE_JS)

    def takes_shown(n):
        def check():
            s = state()
            if s and s["error"]: raise AssertionError(f"the dashboard reports an error: {s['status']}")
            return s if s and len(s["takes"]) == n and s["broken_images"] == 0 and s["images"] == n and s["players"] == n else None
        return check

    try:
        lab.start()
        with lab_page(lab, width=1400, height=1800) as page:
            try:
                open_notebook(page, lab, "generate.ipynb")
                generate = page.locator(".distill-generate button.distill-generate-button")
                generate.wait_for(timeout=180_000)
                wait_until(page, lambda: "Ready" in (state() or {}).get("status", ""), 120, "the model to load")
                # before the first take: a title, a line saying how to make one, no player and no picture at all
                s = state()
                assert s["images"] == 0 and s["players"] == 0 and s["takes"] == [], s
                shown = {"Model", "Mode", "Count", "Longest (s)", "Temperature", "Top-p", "Top-k", "Seed", "Save kept as"}
                assert shown <= set(s["labels"]) and "Continue" not in s["labels"], s["labels"]   # a one-shot continues nothing
                assert "No takes yet" in page.locator(".distill-dashboard.distill-generate").inner_text()

                generate.click()
                s = wait_until(page, takes_shown(2), 120, "two takes with a player and a spectrogram each")
                assert "Made 2 one-shots (seeds 0–1)" in s["status"], s
                assert all("nearest training file" in t and "one-shot" in t for t in s["takes"]), s["takes"]
                assert s["empty_players"] == 0 and s["visible_players"] == 2, s

                page.locator(".distill-generate button.distill-next-seed").click()
                s = wait_until(page, takes_shown(3), 120, "a third take from Next seed")
                assert "seed 2" in s["takes"][2], s["takes"]

                page.locator(".distill-generate .distill-take").nth(0).get_by_role("button", name="Keep").click()
                page.locator(".distill-generate .distill-take").nth(1).get_by_role("button", name="Discard").click()
                wait_until(page, takes_shown(2), 30, "the discarded take to go")
                page.locator(".distill-generate button.distill-save").click()
                s = wait_until(page, lambda: "Saved 1 take" in state()["save"] and state(), 30, "the save line")
                assert sorted(p.name for p in (work / "out").iterdir()) == ["generated.wav"], s
                assert str(work / "out") in s["save"] and "saved as" in s["takes"][0], s
                page.locator(".distill-generate").screenshot(path=str(SCREENSHOT))
            except Exception:
                page.screenshot(path=str(SCREENSHOT.with_name("e2e_generation_dashboard_failure.png")), full_page=True)
                print("page state:", state(), "\nJupyterLab log:\n", lab.log(), file=sys.stderr)
                raise
    finally:
        lab.stop()
        kernel = work / "kernel.txt"
        if kernel.exists(): stop_process(int(kernel.read_text().splitlines()[1]))
