"""A throwaway JupyterLab server and a headless Chromium page for end-to-end tests of the dashboards.

Everything lives in temporary folders (JUPYTER_* and IPYTHONDIR), the kernel is this interpreter (a kernel spec is
installed into the temporary data folder), and leaving the `with` block stops the browser, the kernels and the server.
"""
from __future__ import annotations
import json, os, secrets, signal, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

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
