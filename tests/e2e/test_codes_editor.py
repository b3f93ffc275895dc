"""The codes editor in a real JupyterLab under headless Chromium: clicks and drags on the timeline reach Python, a
far column after scrolling, an edit and its undo, the waveform under the rows, Play selection's playhead crossing
just the selected columns, Decode playing the whole grid; a screenshot is kept (artifacts/)."""
import re

import pytest

from e2e_lab import ARTIFACTS, lab_session, wait_until

pytestmark = pytest.mark.e2e

EDITOR = """import torch
from distill.data import synth_demo_corpus
from distill.train import train_vqvae, TrainParams
from distill.audio import load_audio, write_audio
from distill.ui.codes import CodesEditor
files = synth_demo_corpus(work / "demo", n_files=6)
for _ in train_vqvae(work / "demo", work / "tiny.distill", params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False),
                     hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1): pass
write_audio(work / "take.wav", torch.cat([load_audio(f, 44100)[0] for f in files]).repeat(4), 44100)   # ~26 s
editor = CodesEditor(str(work / "tiny.distill"), work / "take.wav").wait()
editor"""

CELL_JS = """() => { const t = document.querySelector('.distill-codes'); return t ? t.innerText : ''; }"""
# where the playhead is (px into the grid), sampled every 100 ms while it shows, from when it first shows (at most 60 s)
PLAYHEAD_JS = """async () => {
  const head = document.querySelector('.distill-codes .dt-playhead'), xs = [], sleep = (ms) => new Promise(r => setTimeout(r, ms));
  for (let i = 0; i < 600 && head.style.display !== 'block'; i++) await sleep(100);
  while (head.style.display === 'block' && xs.length < 8) { xs.push(parseFloat(head.style.left)); await sleep(100); }
  return xs;
}"""


def test_codes_editor_in_jupyterlab(tmp_path):
    with lab_session(tmp_path, [EDITOR], "codes_editor", CELL_JS, width=1400, height=1400) as s:
        page = s.page
        s.run_all()
        canvas = page.locator(".distill-codes .distill-timeline canvas")
        canvas.wait_for(timeout=120_000)
        wait_until(page, lambda: "columns" in page.evaluate(CELL_JS), 60, "the encoded grid")
        box = canvas.bounding_box()
        assert box["width"] > 400 and box["height"] >= 18 + 3 * 26  # axis + three rows
        text = lambda: page.evaluate(CELL_JS)
        # a click on level 2, column 10 (8 px per column, 26 px rows under an 18 px axis) reaches Python
        page.mouse.click(box["x"] + 10 * 8 + 3, box["y"] + 18 + 26 + 10)
        wait_until(page, lambda: "Level 2 Timbre · column 10 " in text(), 20, "the clicked cell in the selection line")
        # drag across levels 1–3 from column 20 to 40
        page.mouse.move(box["x"] + 20 * 8 + 3, box["y"] + 18 + 5); page.mouse.down()
        page.mouse.move(box["x"] + 40 * 8 + 3, box["y"] + 18 + 2 * 26 + 10, steps=4); page.mouse.up()
        wait_until(page, lambda: "Region: levels 1–3" in text() and "(21 columns)" in text(), 20, "the dragged region")
        # scroll far right, click, set a code, see the edit counted
        page.locator(".distill-codes .dt-scroller").evaluate("s => { s.scrollLeft = 2000; }")
        page.wait_for_timeout(300)
        page.mouse.click(box["x"] + 5 * 8 + 3, box["y"] + 18 + 10)
        wait_until(page, lambda: "Level 1 Structure · column 255 " in text(), 20, "the clicked cell after scrolling")
        page.locator(".distill-codes .distill-code input").fill("3")
        page.locator(".distill-codes .distill-code input").press("Enter")
        page.locator(".distill-codes button.distill-set").click()
        wait_until(page, lambda: "set level 1 (Structure) column 255 to 3" in text(), 20, "the edit in the history line")
        page.locator(".distill-codes button.distill-undo").click()
        wait_until(page, lambda: "Undid: set level 1 (Structure) column 255 to 3" in text(), 20, "the undo")
        # the waveform lies under the rows, on the same scale
        assert canvas.bounding_box()["height"] >= 18 + 3 * 26 + 6 + 56
        wait_until(page, lambda: "wave · original" in text() and "original · " in text(), 20, "the waveform and the player")
        # play a selection: the playhead crosses just its columns, following the sound
        page.locator(".distill-codes .dt-scroller").evaluate("s => { s.scrollLeft = 0; }")
        page.wait_for_timeout(300)
        page.mouse.move(box["x"] + 20 * 8 + 3, box["y"] + 5); page.mouse.down()     # on the time axis: all levels
        page.mouse.move(box["x"] + 40 * 8 + 3, box["y"] + 5, steps=4); page.mouse.up()
        wait_until(page, lambda: "columns 20–40" in text(), 20, "the selected columns")
        page.locator(".distill-codes button.distill-play-selection").click()
        xs = page.evaluate(PLAYHEAD_JS)
        assert len(xs) >= 3 and xs == sorted(xs) and xs[-1] > xs[0], xs
        assert 20 * 8 <= xs[0] and xs[-1] <= 41 * 8, xs
        wait_until(page, lambda: re.search(r"columns 20–40 · 0\.9[78] s from 0\.93 s", text()), 20, "the played selection in the readout")
        # Decode plays the whole edited grid from its start
        page.locator(".distill-codes button.distill-decode").click()
        xs = page.evaluate(PLAYHEAD_JS)
        assert len(xs) >= 3 and xs[0] < 8 * 8 and xs[-1] > xs[0], xs
        wait_until(page, lambda: "wave · edited" in text(), 20, "the edited waveform")
        page.locator(".distill-codes .dt-play").click()                                  # and the player stops it
        page.locator(".distill-codes").screenshot(path=str(ARTIFACTS / "e2e_codes_editor.png"))
        assert not s.console_errors, s.console_errors
