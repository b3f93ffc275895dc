"""A throwaway JupyterLab server and a headless Chromium page for end-to-end tests of the dashboards.

Everything lives in temporary folders (JUPYTER_* and IPYTHONDIR), the kernel is this interpreter (a kernel spec is
installed into the temporary data folder), and leaving the `with` block stops the browser, the kernels and the server.
"""
from __future__ import annotations
import json, os, secrets, signal, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
                 "--disable-dev-shm-usage"]  # small /dev/shm in containers


def free_port() -> int:
    "A TCP port nobody listens on right now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r: return r.read()


class JupyterLab:
    "A JupyterLab server serving `root`, started by `start()` and stopped (kernels included) by `stop()`."
    def __init__(self, root: Path, home: Path, env: dict | None = None):
        self.root, self.home = Path(root), Path(home)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {}),
                    **{k: str(self.home / v) for k, v in [("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                                                           ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython")]}}
        self.env.pop("JUPYTER_PATH", None)
        self.log_path = self.home / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def _prepare(self):
        # the kernel is this very interpreter (the project's venv), whatever kernels the machine has
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3",
                        "--display-name", "Python 3 (distill e2e)"], env=self.env, check=True, capture_output=True)
        # no "Jupyter news" pop-up over the page
        labconfig = self.home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))

    def start(self, timeout: float = 90) -> "JupyterLab":
        self._prepare()
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(self.port),
               f"--ServerApp.token={self.token}", "--allow-root", "--LabApp.expose_app_in_browser=True",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0"]
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                _get(f"{self.url}/api/status?token={self.token}"); return self
            except OSError: time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str: return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def lab_url(self, notebook: str) -> str:
        # ?reset: never restore an earlier workspace (it could open another notebook)
        return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"

    def stop(self):
        "Shut the server down (it stops its kernels); kill the whole process group if it does not go."
        if self.proc is None or self.proc.poll() is not None: return
        try:
            req = urllib.request.Request(f"{self.url}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {self.token}"})
            urllib.request.urlopen(req, timeout=5).read()
            self.proc.wait(15)
        except Exception:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try: os.killpg(self.proc.pid, sig); self.proc.wait(5); break
                except (ProcessLookupError, subprocess.TimeoutExpired): pass


def stop_process(pid: int, wait: float = 5.0):
    "Terminate process `pid` (a kernel left behind) if it still runs."
    try: os.kill(pid, signal.SIGTERM)
    except ProcessLookupError: return
    deadline = time.time() + wait
    while time.time() < deadline:
        try: os.kill(pid, 0); time.sleep(0.1)
        except ProcessLookupError: return
    try: os.kill(pid, signal.SIGKILL)
    except ProcessLookupError: pass


@contextmanager
def lab_page(lab: JupyterLab, width: int = 1500, height: int = 2400):
    "A headless Chromium page (Playwright) on the system's Chromium; closed on exit."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

# returning the command's promise would hang evaluate(): fire and forget
RUN_ALL_JS = "() => { jupyterapp.commands.execute('notebook:run-all-cells'); return 1; }"

ERRORS_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
                   .map(e => e.innerText).join('\\n')"""


def open_notebook(page, lab: JupyterLab, notebook: str, timeout: float = 120):
    "Open `notebook` in JupyterLab, wait for an idle kernel, and run all its cells."
    page.goto(lab.lab_url(notebook))
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout * 1000, polling=250)
    page.evaluate(RUN_ALL_JS)


def wait_until(page, check, timeout: float, what: str, poll: float = 0.5):
    "Call `check()` until it returns something truthy; fail early with the notebook's error output, if any."
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result: return result
        errors = page.evaluate(ERRORS_JS)
        if errors: raise AssertionError(f"the notebook raised while waiting for {what}:\n{errors[-3000:]}")
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------- what every end-to-end test shares

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"   # screenshots, kept after the run

# the first cell of every notebook: the kernel says which interpreter and process it is (the test stops it at the end)
KERNEL_SETUP = """import os, sys
from pathlib import Path
work = Path(os.environ["DISTILL_E2E_WORK"])
(work / "kernel.txt").write_text(f"{sys.executable}\\n{os.getpid()}\\n")"""

# a tiny model with a tiny prior, trained in seconds in the test's own work folder (small audio settings keep it fast)
TINY_MODEL = """from distill.data import synth_demo_corpus
from distill.audio import AudioParams
from distill.train import train_vqvae, TrainParams
from distill.prior import train_prior, PriorTrainParams
synth_demo_corpus(work / "demo", n_files=12)
for _ in train_vqvae(work / "demo", work / "tiny.distill", params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False),
                     audio=AudioParams(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, griffin_lim_iters=16),
                     hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1): pass
for _ in train_prior(work / "tiny.distill", work / "demo", PriorTrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, device="cpu"),
                     d_model=32, n_layers=1, n_heads=2, window=16): pass"""


def need_chromium():
    "Skip where there is no Chromium (except under CI, where the test must run and fail instead)."
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium); under CI=true this test runs and fails instead")


class LabSession:
    "A notebook of code cells in a JupyterLab under headless Chromium: its page, server and folders (see `lab_session`)."
    def __init__(self, page, lab: JupyterLab, root: Path, work: Path, library: Path, notebook: str):
        self.page, self.lab, self.root, self.work, self.library, self.notebook = page, lab, root, work, library, notebook
        self.console_errors: list[str] = []   # what the browser's console reported as errors (and uncaught page errors)

    def run_all(self, timeout: float = 120):
        "Open the notebook, wait for an idle kernel, and run all its cells."
        open_notebook(self.page, self.lab, self.notebook, timeout)

    def open(self, timeout: float = 120):
        "Open the notebook and wait for an idle kernel, without running anything."
        self.page.goto(self.lab.lab_url(self.notebook))
        self.page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout * 1000, polling=250)

    def run_cell(self, i: int, timeout: float = 240, what: str = ""):
        "Run code cell `i` alone and wait until it has finished."
        self.page.evaluate(RUN_CELL_JS, i)
        wait_until(self.page, lambda: self.page.evaluate(CELL_DONE_JS, i), timeout, what or f"cell {i}")


# run code cell `i` (and nothing else); returning the command's promise would hang evaluate()
RUN_CELL_JS = """(i) => {
  const nb = jupyterapp.shell.currentWidget.content;
  nb.deselectAll(); nb.activeCellIndex = i;
  jupyterapp.commands.execute('notebook:run-cell'); return 1;
}"""

# whether code cell `i` has finished running: its execution count comes with the kernel's reply
CELL_DONE_JS = "(i) => jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount !== null"


@contextmanager
def lab_session(tmp_path: Path, cells: list[str], name: str, state_js: str | None = None, width: int = 1500,
                height: int = 2400, every_cell_in_page: bool = False):
    """A notebook of `cells` (after `KERNEL_SETUP`) in a fresh JupyterLab under headless Chromium: the kernel works in
    `root`, `work` is the test's scratch folder (`DISTILL_E2E_WORK`), the model library is `library` (`DISTILL_HOME`).
    On failure a full-page screenshot (artifacts/e2e_NAME_failure.png), the page state (`state_js`) and the server log
    are kept; at the end the browser, the server and the kernel are stopped. Console errors are collected."""
    need_chromium()
    root, work, library = tmp_path / "root", tmp_path / "work", tmp_path / "library"
    root.mkdir(); work.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_SETUP)] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, root / f"{name}.ipynb")
    home = tmp_path / "jupyter"
    if every_cell_in_page:   # no windowing: a test can read dashboards scrolled out of view
        settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    lab = JupyterLab(root, home, env={"DISTILL_E2E_WORK": str(work), "DISTILL_HOME": str(library)})
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        lab.start()
        with lab_page(lab, width=width, height=height) as page:
            session = LabSession(page, lab, root, work, library, f"{name}.ipynb")
            page.on("console", lambda m: session.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: session.console_errors.append(f"uncaught: {e}"))
            try:
                yield session
            except BaseException:
                page.screenshot(path=str(ARTIFACTS / f"e2e_{name}_failure.png"), full_page=True)
                print("page state:", page.evaluate(state_js) if state_js else "", "\nconsole errors:", session.console_errors,
                      "\nJupyterLab log:\n", lab.log(), file=sys.stderr)
                raise
    finally:
        lab.stop()
        kernel = work / "kernel.txt"
        if kernel.exists(): stop_process(int(kernel.read_text().splitlines()[1]))
