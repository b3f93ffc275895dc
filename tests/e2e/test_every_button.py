"""Every button does what it says (issue 25), walked in a real JupyterLab under headless Chromium with real clicks, on
a tiny model with a prior trained in the test's own folder:

- a second Generate adds takes with new seeds, each take saying why it is new, a variation or a copy;
- Add to library works from the generation dashboard for a loaded model; the library finds it by a training file's
  name; after Load into generator, Next seed still makes a new take;
- a recording chosen with Choose… opens in the codes editor; Audition code, Solo column and Solo level start
  playback (their <audio> element's time advances);
- a re-generated level-1 region leaves levels 2 and 3 as they were; after Undo the waveform is labelled "original";
- short players read in seconds, not 0:00; and the browser's console reports no error during the whole walk."""
import re

import pytest

from e2e_lab import ARTIFACTS, TINY_MODEL, lab_session, wait_until

pytestmark = pytest.mark.e2e

CELLS = [
    TINY_MODEL + """
import torch
from distill.audio import load_audio, write_audio
files = sorted((work / "demo").glob("*.wav"))[:3]
write_audio(work / "take.wav", torch.cat([load_audio(f, 16000)[0] for f in files]), 16000)   # a recording to choose""",
    """from distill.ui.generate import GenerationDashboard
gen = GenerationDashboard(work / "tiny.distill")
gen.count.value, gen.duration.value = 2, 0.5
gen""",
    """from distill.ui.library import LibraryBrowser
LibraryBrowser()""",
    """from distill.ui.codes import CodesEditor
CodesEditor(work / "tiny.distill")""",
]

STATE_JS = """() => {
  const text = s => { const e = document.querySelector(s); return e ? e.innerText : ''; };
  return {
    generate: text('.distill-generate .distill-status-line'), library_add: text('.distill-generate .distill-library-status'),
    takes: Array.from(document.querySelectorAll('.distill-generate .distill-take')).map(t => t.innerText),
    readouts: Array.from(document.querySelectorAll('.distill-generate .distill-take .dp-readout')).map(r => r.innerText),
    library: text('.distill-library'), codes: text('.distill-codes'),
    errors: Array.from(document.querySelectorAll('.distill-status-error')).map(e => e.innerText),
  };
}"""

# every 'play' of an <audio> in the page, recorded once (media events do not bubble, but a capturing listener sees them)
LISTEN_JS = """() => { if (!window.__plays) { window.__plays = [];
  document.addEventListener('play', e => window.__plays.push({el: e.target, t: performance.now()}), true); } return performance.now(); }"""

# after `since`: the first play of an <audio> inside `css`, and how far its time gets in a quarter of a second
PLAYED_JS = """async ([css, since]) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  for (let i = 0; i < 300; i++) {
    const p = window.__plays.find(p => p.t > since && p.el.closest(css));
    if (p) { const t0 = p.el.currentTime; await sleep(250);
             return {t0, t1: p.el.currentTime, ended: p.el.ended, duration: p.el.duration, paused: p.el.paused}; }
    await sleep(50);
  }
  return null;
}"""

# a fingerprint of each level's row of cells as drawn on the timeline's canvas (the 18 px axis, then 26 px rows)
ROWS_JS = """() => {
  const c = document.querySelector('.distill-codes .distill-timeline canvas'), ctx = c.getContext('2d');
  const scale = c.width / parseFloat(c.style.width);
  return [0, 1, 2].map(l => { const d = ctx.getImageData(0, Math.round((18 + 26 * l) * scale), c.width, Math.round(25 * scale)).data;
                              let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) >>> 0; return h; });
}"""


def test_every_button_does_what_it_says(tmp_path):
    from distill.modelfile import load_model
    with lab_session(tmp_path, CELLS, "every_button", STATE_JS, width=1500, height=2600, every_cell_in_page=True) as s:
        page = s.page
        state = lambda: page.evaluate(STATE_JS)

        def no_errors():
            errors = state()["errors"]
            if errors: raise AssertionError(f"a dashboard reports an error: {errors}")

        def seeds():
            return [int(m[1]) for t in state()["takes"] if (m := re.search(r"· seed (\d+) ·", t))]

        s.run_all(timeout=180)
        wait_until(page, lambda: "Ready" in state()["generate"] or no_errors(), 240, "the generator with its model")
        wait_until(page, lambda: "Load a model" not in state()["codes"] and "tiny" in state()["codes"] or no_errors(), 60, "the codes editor")
        page.evaluate(LISTEN_JS)

        # ---- generation: a second Generate adds new takes, never the same seeds again
        generate = page.locator(".distill-generate button.distill-generate-button")
        generate.click()
        wait_until(page, lambda: len(seeds()) == 2 and "Made 2" in state()["generate"] or no_errors(), 120, "two takes")
        generate.click()
        wait_until(page, lambda: len(seeds()) == 4 and "Made 2" in state()["generate"] or no_errors(), 120, "two more takes")
        assert seeds() == [0, 1, 2, 3] and "(seeds 2–3)" in state()["generate"], (seeds(), state()["generate"])
        st = state()
        assert all("why: distance" in t and "dB" in t and "copied run" in t for t in st["takes"]), st["takes"]   # the verdict's reason
        assert all(re.fullmatch(r"\d+\.\d\d s", r) for r in st["readouts"]), st["readouts"]   # 0.43 s, not 0:00

        # ---- Add to library from the generation dashboard, for the model it has loaded
        page.locator(".distill-generate button.distill-add-to-library").click()
        wait_until(page, lambda: "Added 'tiny' to the library" in state()["library_add"] or no_errors(), 30, "the model in the library")
        assert (s.library / "tiny.distill").exists()

        # ---- library: found by a training file's name; Load into generator; Next seed makes a new take
        library = page.locator(".distill-library")
        first = load_model(s.work / "tiny.distill").prior_training["corpus_files"][0]
        word = first.split("_")[0]                                   # the demo corpus names its files kick_000.wav, …
        library.locator("input[placeholder^='name, tag']").fill(word)
        found = lambda: re.search(rf"matched: .*training files? .*{re.escape(first.split('/')[-1])}", state()["library"])
        wait_until(page, found, 30, f"a search for {word!r} finding tiny by its training files")
        library.locator("button", has_text=re.compile(r"^\s*tiny\s*$")).click()
        library.get_by_role("button", name="Load into generator").click()
        wait_until(page, lambda: "Loaded tiny into the generator open in the notebook" in state()["library"] or no_errors(), 60, "the load")
        page.locator(".distill-generate button.distill-next-seed").click()
        wait_until(page, lambda: len(seeds()) == 5 or no_errors(), 120, "a fifth take")
        assert seeds() == [0, 1, 2, 3, 4], seeds()                   # not seed 0 again: an exact copy of take 1

        # ---- codes editor: choose the recording, hear a code, a column, a level
        codes = page.locator(".distill-codes")
        with page.expect_file_chooser() as chooser:                  # Choose… opens the computer's file chooser
            codes.locator(".widget-upload").first.click()
        chooser.value.set_files(str(s.work / "take.wav"))
        wait_until(page, lambda: re.search(r"take\.wav: 3 levels × \d+ columns", state()["codes"]) or no_errors(), 60, "the chosen recording")
        canvas = codes.locator(".distill-timeline canvas")
        canvas.scroll_into_view_if_needed(); page.wait_for_timeout(300)
        box, cw = canvas.bounding_box(), int(re.search(r"(\d+) px/column", state()["codes"])[1])
        x = lambda column: box["x"] + column * cw + cw / 2
        y = lambda level: box["y"] + 18 + 26 * level + 13
        page.mouse.click(x(2), y(0))
        wait_until(page, lambda: "Level 1 Structure · column 2 " in state()["codes"], 20, "the clicked cell")
        for name in ("audition", "solo-column", "solo-level"):
            since = page.evaluate(LISTEN_JS)
            codes.locator(f"button.distill-{name}").click()
            played = page.evaluate(PLAYED_JS, [".distill-codes .distill-audition-player", since])
            assert played and (played["t1"] > played["t0"] or (played["ended"] and played["duration"] > 0)), (name, played)
            assert "✔" in codes.locator(".distill-status-line").inner_text(), name
        codes.locator("button.distill-decode").click()
        wait_until(page, lambda: "wave · edited" in state()["codes"] or no_errors(), 60, "the decoded grid's waveform")

        # ---- re-generate a level-1 region: levels 2 and 3 stay as they were
        page.mouse.move(x(2), y(0)); page.mouse.down(); page.mouse.move(x(8), y(0), steps=4); page.mouse.up()
        wait_until(page, lambda: "Region: level 1 Structure × columns 2–8" in state()["codes"], 20, "the level-1 region")
        page.wait_for_timeout(300)
        before = page.evaluate(ROWS_JS)
        codes.locator("button.distill-regenerate").click()
        wait_until(page, lambda: "re-generate level 1 (Structure) columns 2–8" in state()["codes"] or no_errors(), 30, "the re-generation")
        page.wait_for_timeout(500)
        after = page.evaluate(ROWS_JS)
        assert after[1:] == before[1:], (before, after)              # Timbre and Detail drawn exactly as before

        # ---- Undo: back to the recording's codes, and the waveform says so
        codes.locator("button.distill-undo").click()
        wait_until(page, lambda: "wave · original" in state()["codes"], 20, "the waveform labelled original after Undo")
        assert page.evaluate(ROWS_JS) == before
        page.screenshot(path=str(ARTIFACTS / "e2e_every_button.png"), full_page=True)
        assert not s.console_errors, s.console_errors                # nothing in the browser's console all along
