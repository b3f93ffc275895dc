"""A musician's session in a real JupyterLab under headless Chromium, with real clicks, from the README's own snippets.

The README's dashboard snippets (its ```python blocks) are read at test time and run verbatim, each as the last
expression of a cell, so this test breaks when the README changes. The walk: train into `drums.distill` with the
README's `TrainingDashboard()` (fields typed in the browser: a tiny synthesised corpus, 2 epochs, 16 codes) → listen
to the trained model's preview → train the prior → `GenerationDashboard("drums.distill")`: generate takes, keep one,
export the kit (WAVs + .sfz + drumkit.xml + .h2drumkit) → Add to library → `LibraryBrowser()` lists the model →
`CodesEditor("drums.distill")`: encode a corpus file, see the grid. One screenshot per dashboard (artifacts/)."""
import re, tarfile, time
from pathlib import Path

import pytest

from e2e_lab import ARTIFACTS, RUN_CELL_JS, lab_session, wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

# the class each README snippet constructs → its dashboard's DOM root (`distill-NAME`) and its screenshot
DASHBOARDS = {"TrainingDashboard": "train", "GenerationDashboard": "generate", "LibraryBrowser": "library", "CodesEditor": "codes"}
screenshot = lambda name: ARTIFACTS / f"e2e_session_{name}.png"

SETUP = """from distill.data import synth_demo_corpus
synth_demo_corpus(work / "my_sounds", n_files=6);"""


def readme_snippets() -> dict[str, str]:
    "The README's snippets that construct a dashboard, by class: a paragraph of a ```python block ending in `Class(…)`."
    found = {}
    for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S):
        for paragraph in re.split(r"\n[ \t]*\n", block.strip()):
            last = paragraph.strip().splitlines()[-1]
            if (m := re.match(r"(\w+)\(", last)) and m[1] in DASHBOARDS: found[m[1]] = paragraph.strip()
    assert set(found) == set(DASHBOARDS), f"README.md has no snippet for {set(DASHBOARDS) - set(found)}"
    return found


# what each dashboard shows, read in one go: the test waits on it and reports it when something goes wrong
STATE_JS = """() => {
  const text = e => e ? e.innerText : '';
  const shown = e => !!e && e.offsetParent !== null;
  const out = {};
  for (const name of ['train', 'generate', 'library', 'codes']) {
    const root = document.querySelector('.distill-dashboard.distill-' + name);
    out[name] = root ? {visible: shown(root), errors: Array.from(root.querySelectorAll('.distill-status-error')).map(text)} : null;
  }
  const t = document.querySelector('.distill-train');
  if (t) {
    const players = Array.from(t.querySelectorAll('.distill-player')).filter(shown).map(p => p.querySelector('audio'));
    Object.assign(out.train, {
      status: text(t.querySelector('.distill-status-line')), progress: (t.querySelector('.distill-progress .progress-bar') || {style: {}}).style.width,
      prior_status: text(t.querySelector('.distill-prior-status-line')),
      prior_progress: (t.querySelector('.distill-prior-progress .progress-bar') || {style: {}}).style.width,
      players: players.length, playable: players.filter(a => a && a.readyState >= 1 && a.duration > 0).length,
      after: text(t.querySelector('.distill-after-status')),
    });
  }
  const g = document.querySelector('.distill-generate');
  if (g) Object.assign(out.generate, {
    status: text(g.querySelector('.distill-status-line')), kit: text(g.querySelector('.distill-kit-status')),
    takes: Array.from(g.querySelectorAll('.distill-take')).map(text),
    players: Array.from(g.querySelectorAll('.distill-take .distill-player')).filter(shown).length,
  });
  const l = document.querySelector('.distill-library');
  if (l) Object.assign(out.library, {text: text(l)});
  const c = document.querySelector('.distill-codes');
  if (c) Object.assign(out.codes, {text: text(c), canvas: !!c.querySelector('.distill-timeline canvas')});
  return out;
}"""


def test_a_musicians_session_from_the_readme(tmp_path):
    snippets = readme_snippets()
    # the walk's order: train, generate, library, codes; each README snippet verbatim, as the last expression of its cell
    cell_of = {name: 2 + i for i, name in enumerate(DASHBOARDS.values())}   # after the kernel's setup and the corpus
    t0, times = time.time(), {}
    lap = lambda what: times.__setitem__(what, time.time() - t0)

    with lab_session(tmp_path, [SETUP] + [snippets[c] for c in DASHBOARDS], "session_walk", STATE_JS, width=1500, height=2000,
                     every_cell_in_page=True) as session:
        page, root, work, library_home = session.page, session.root, session.work, session.library
        lap("lab ready")
        state = lambda: page.evaluate(STATE_JS)
        cell = lambda name: page.locator(".jp-Notebook .jp-Cell").nth(cell_of[name])

        def field(name: str, label: str):
            "The input (or select) of the field labelled exactly `label` in dashboard `name`."
            return (page.locator(f".distill-{name} .widget-inline-hbox").filter(has=page.get_by_text(label, exact=True))
                    .locator("input, select").first)

        def button(name: str, css: str = "", text: str = ""):
            where = page.locator(f".distill-{name} button{css}")
            return where.filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")) if text else where

        def no_errors(name):
            errors = (state()[name] or {}).get("errors")
            if errors: raise AssertionError(f"the {name} dashboard reports an error: {errors}")

        def show(name):
            "Run the cell of dashboard `name` (its README snippet) and wait until the dashboard shows as the cell's output."
            session.page.evaluate(RUN_CELL_JS, cell_of[name])
            dashboard = cell(name).locator(f".jp-OutputArea .distill-dashboard.distill-{name}")
            dashboard.wait_for(state="visible", timeout=120_000)
            output = cell(name).locator(".jp-OutputArea").inner_text()
            assert "<distill.ui" not in output and "object at 0x" not in output, output   # not a Python repr
            assert cell(name).locator(".jp-OutputArea .distill-dashboard").count() == 1   # shown once
            lap(f"{name} shown")
            return dashboard

        session.open()
        session.run_cell(0, 120, "the kernel's setup cell"); session.run_cell(1, 120, "the corpus")
        corpus = sorted((work / "my_sounds").glob("*.wav"))
        assert len(corpus) == 6, corpus

        # ---- train: TrainingDashboard() from the README, the fields typed as a person would
        train = show("train")
        field("train", "Dataset folder").fill(str(work / "my_sounds"))
        field("train", "Palette size").select_option(label="16")
        epochs = field("train", "Epochs"); epochs.fill("2"); epochs.press("Enter")
        field("train", "Save model as").fill("drums.distill")   # the name the other snippets open
        button("train", ".distill-start").click()

        def trained():
            no_errors("train")
            s = state()["train"]
            return s if "Finished 2 epochs" in s["status"] and s["progress"] == "100%" else None
        s = wait_until(page, trained, 240, "the model to be trained")
        assert "saved in drums.distill" in s["status"], s
        assert (root / "drums.distill").is_file(), sorted(p.name for p in root.iterdir())
        lap("trained")

        # ---- listen: the preview of the trained model (a training file and an unseen one, original and reconstruction)
        def heard():
            s = state()["train"]
            return s if s["players"] == 4 and s["playable"] == 4 else None
        wait_until(page, heard, 120, "four playable players under 'Listen to the trained model'")
        after = train.inner_text()
        assert "Listen to the trained model" in after and "training file" in after and "unseen file" in after, after
        lap("preview playable")

        # ---- train the prior, from the same dashboard
        prior_start = button("train", ".distill-prior-start")
        wait_until(page, lambda: prior_start.is_enabled() or None, 120, "Train prior to be enabled")
        prior_epochs = field("train", "Prior epochs"); prior_epochs.fill("2"); prior_epochs.press("Enter")
        prior_start.click()

        def prior_trained():
            no_errors("train")
            s = state()["train"]
            return s if "Prior trained in 2 epochs" in s["prior_status"] and s["prior_progress"] == "100%" else None
        wait_until(page, prior_trained, 240, "the prior to be trained")
        lap("prior trained")

        # ---- generate takes: GenerationDashboard("drums.distill") from the README
        generate = show("generate")
        wait_until(page, lambda: "Ready" in state()["generate"]["status"] or no_errors("generate"), 60, "the model with its prior")
        count = field("generate", "Count"); count.fill("2"); count.press("Enter")
        longest = field("generate", "Longest (s)"); longest.fill("1"); longest.press("Enter")
        button("generate", ".distill-generate-button").click()

        def takes():
            no_errors("generate")
            s = state()["generate"]
            return s if len(s["takes"]) == 2 and s["players"] == 2 and "Made 2 one-shots" in s["status"] else None
        s = wait_until(page, takes, 180, "two takes, each with a player")
        assert all("nearest training file" in t for t in s["takes"]), s["takes"]
        lap("generated")

        # ---- keep a take, export the kit
        page.locator(".distill-generate .distill-take").nth(0).get_by_role("button", name="Keep").click()
        kit_button = button("generate", ".distill-export-kit")
        wait_until(page, lambda: kit_button.is_enabled() or None, 30, "Export kit to be enabled by the kept take")
        kit_button.click()
        s = wait_until(page, lambda: "Exported take 1 as the kit drums" in state()["generate"]["kit"] and state()["generate"]
                       or no_errors("generate"), 60, "the kit line")
        kit = root / "distill_outputs" / "drums"
        files = sorted(p.name for p in kit.iterdir())
        wavs = [f for f in files if f.endswith(".wav")]
        assert len(wavs) == 1 and {"drums.sfz", "drumkit.xml", "drums.h2drumkit"} <= set(files), files
        sfz, xml = (kit / "drums.sfz").read_text(), (kit / "drumkit.xml").read_text()
        assert wavs[0] in sfz and wavs[0] in xml, (sfz, xml)
        with tarfile.open(kit / "drums.h2drumkit") as packed:
            inside = {Path(n).name for n in packed.getnames()}
        assert {"drumkit.xml", wavs[0]} <= inside, inside
        generate.screenshot(path=str(screenshot("generate")))
        lap("kit exported")

        # ---- library: Add to library from the training dashboard, then LibraryBrowser() from the README lists it
        assert field("train", "Library name").input_value() == "drums"
        button("train", ".distill-add-to-library").click()
        wait_until(page, lambda: "Added 'drums' to the library" in state()["train"]["after"] or no_errors("train"), 30,
                   "the library line")
        assert list(library_home.glob("*.distill")), sorted(library_home.iterdir())
        train.screenshot(path=str(screenshot("train")))
        library = show("library")
        s = state()["library"]
        assert "1 model" in s["text"] and str(library_home) in s["text"], s
        button("library", text="drums").click()                      # open its details
        wait_until(page, lambda: "with a prior (ready to generate)" in state()["library"]["text"] or no_errors("library"), 30,
                   "the details of drums")
        assert button("library", text="Load into generator").count() == 1
        library.screenshot(path=str(screenshot("library")))
        lap("in the library")

        # ---- codes: CodesEditor("drums.distill") from the README, encode a corpus file, see the grid
        codes = show("codes")
        wait_until(page, lambda: "Model drums loaded" in state()["codes"]["text"] or no_errors("codes"), 30, "the model in the editor")
        field("codes", "Recording").fill(str(corpus[0]))
        button("codes", ".distill-encode").click()
        wait_until(page, lambda: (re.search(r"\d+ levels × \d+ columns", state()["codes"]["text"]) and state()["codes"]["canvas"])
                   or no_errors("codes"), 60, "the encoded grid")
        canvas = page.locator(".distill-codes .distill-timeline canvas")
        canvas.scroll_into_view_if_needed(); page.wait_for_timeout(300)
        box = canvas.bounding_box()
        assert box["width"] > 400 and box["height"] >= 18 + 3 * 26, box   # a time axis and three rows (the default levels)
        page.mouse.click(box["x"] + 3, box["y"] + 18 + 10)               # the first cell of level 1
        wait_until(page, lambda: "Level 1 Structure · column 0 " in state()["codes"]["text"], 20, "the clicked cell")
        codes.screenshot(path=str(screenshot("codes")))
        lap("codes shown")
        for name in DASHBOARDS.values():
            assert state()[name]["visible"], f"the {name} dashboard is not visible"
    for name in DASHBOARDS.values():
        assert screenshot(name).stat().st_size > 10_000, screenshot(name)
    lap("shut down")
    print("session timeline (s):", ", ".join(f"{k} {v:.1f}" for k, v in times.items()),
          "— screenshots", ", ".join(str(screenshot(n)) for n in DASHBOARDS.values()))
