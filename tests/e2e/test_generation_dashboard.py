"""The generation dashboard in a real JupyterLab under headless Chromium: nothing empty or broken before the first
take; Generate and Next seed add takes (player, spectrogram, novelty) made in a background thread; Keep, Discard and
Save act from the browser; a screenshot is kept (artifacts/)."""
import pytest

from e2e_lab import ARTIFACTS, TINY_MODEL, lab_session, wait_until

SCREENSHOT = ARTIFACTS / "e2e_generation_dashboard.png"

pytestmark = pytest.mark.e2e

DASHBOARD = """from distill.ui.generate import GenerationDashboard
dash = GenerationDashboard(work / "tiny.distill", save_as=work / "out" / "generated.wav")
dash.count.value, dash.duration.value = 2, 1.0
dash"""

# what the page shows, read in one go
STATE_JS = """() => {
  const root = document.querySelector('.distill-generate');
  if (!root) return null;
  const takes = Array.from(root.querySelectorAll('.distill-take'));
  const imgs = Array.from(root.querySelectorAll('img'));
  const players = Array.from(root.querySelectorAll('.distill-player'));
  return {
    status: (root.querySelector('.distill-status-line') || {}).innerText || '',
    error: !!root.querySelector('.distill-status-line .distill-status-error'),
    save: (root.querySelector('.distill-save-status') || {}).innerText || '',
    takes: takes.map(t => t.innerText),
    images: imgs.length, broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    players: players.length, audio: root.querySelectorAll('audio').length,
    visible_players: players.filter(p => p.offsetParent !== null).length,
    readouts: players.map(p => (p.querySelector('.dp-readout') || {}).innerText || ''),
    labels: Array.from(root.querySelectorAll('.widget-label')).filter(l => l.offsetParent !== null).map(l => l.innerText.trim()),
  };
}"""


def test_generation_dashboard_in_jupyterlab(tmp_path):
    with lab_session(tmp_path, [TINY_MODEL, DASHBOARD], "generation_dashboard", STATE_JS, width=1400, height=1800) as s:
        page = s.page
        state = lambda: page.evaluate(STATE_JS)

        def takes_shown(n):
            def check():
                st = state()
                if st and st["error"]: raise AssertionError(f"the dashboard reports an error: {st['status']}")
                return st if st and len(st["takes"]) == n and st["broken_images"] == 0 and st["images"] == n and st["players"] == n else None
            return check

        s.run_all()
        generate = page.locator(".distill-generate button.distill-generate-button")
        generate.wait_for(timeout=180_000)
        wait_until(page, lambda: "Ready" in (state() or {}).get("status", ""), 120, "the model to load")
        # before the first take: a title, a line saying how to make one, no player, no <audio>, no picture at all
        st = state()
        assert st["images"] == 0 and st["players"] == 0 and st["audio"] == 0 and st["takes"] == [], st
        shown = {"Model", "Mode", "Count", "Longest (s)", "Temperature", "Top-p", "Top-k", "Seed", "Save kept as", "Library name"}
        assert shown <= set(st["labels"]) and "Continue" not in st["labels"], st["labels"]   # a one-shot continues nothing
        assert "No takes yet" in page.locator(".distill-dashboard.distill-generate").inner_text()

        generate.click()
        st = wait_until(page, takes_shown(2), 120, "two takes with a player and a spectrogram each")
        assert "Made 2 one-shots (seeds 0–1)" in st["status"], st
        assert all("nearest training file" in t and "why: distance" in t and "one-shot" in t for t in st["takes"]), st["takes"]
        assert st["visible_players"] == 2 and st["audio"] == 2, st
        # a sound under a second reads in seconds ("0.43 s"), not the "0:00" of the browser's own player
        assert all(r.endswith(" s") and not r.startswith("0:00") for r in st["readouts"]), st["readouts"]

        page.locator(".distill-generate button.distill-next-seed").click()
        st = wait_until(page, takes_shown(3), 120, "a third take from Next seed")
        assert "seed 2" in st["takes"][2], st["takes"]

        page.locator(".distill-generate .distill-take").nth(0).get_by_role("button", name="Keep").click()
        page.locator(".distill-generate .distill-take").nth(1).get_by_role("button", name="Discard").click()
        wait_until(page, takes_shown(2), 30, "the discarded take to go")
        page.locator(".distill-generate button.distill-save").click()
        st = wait_until(page, lambda: "Saved 1 take" in state()["save"] and state(), 30, "the save line")
        assert sorted(p.name for p in (s.work / "out").iterdir()) == ["generated.wav"], st
        assert str(s.work / "out") in st["save"] and "saved as" in st["takes"][0], st
        page.locator(".distill-generate").screenshot(path=str(SCREENSHOT))
        assert not s.console_errors, s.console_errors
