"""The repository's own invariants: every notebook's tests pass, `distill/` is exactly what the notebooks export,
and README.md is exactly what `nbs/index.ipynb` renders to."""
import ast, filecmp, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook(notebook):
    "The notebook runs top to bottom and its asserts hold (nbdev_test; `#| eval: false` cells are skipped)."
    r = subprocess.run([str(BIN / "nbdev_test"), "--path", notebook, "--n_workers", "0"], cwd=ROOT / "nbs",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]


def test_package_is_what_the_notebooks_export(tmp_path):
    "Exporting the notebooks into a scratch copy gives exactly the committed `distill/` package."
    shutil.copy(ROOT / "settings.ini", tmp_path)
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs")
    r = subprocess.run([str(BIN / "nbdev_export")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    exported = sorted(p.relative_to(tmp_path / "distill") for p in (tmp_path / "distill").rglob("*.py"))
    committed = sorted(p.relative_to(ROOT / "distill") for p in (ROOT / "distill").rglob("*.py"))
    assert exported == committed, "files differ: run nbdev_export and commit"
    changed = [str(p) for p in exported if not filecmp.cmp(tmp_path / "distill" / p, ROOT / "distill" / p, shallow=False)]
    assert not changed, f"out of step with the notebooks (run nbdev_export): {changed}"


def test_readme_is_the_index_notebook(tmp_path):
    "README.md is nbs/index.ipynb rendered to markdown."
    r = subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "markdown", "--output-dir", str(tmp_path),
                        str(ROOT / "nbs" / "index.ipynb"), "--output", "README"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "README.md").read_text() == (ROOT / "README.md").read_text(), \
        "README.md is out of step: jupyter nbconvert --to markdown --output-dir . nbs/index.ipynb --output README"


def test_readme_has_the_two_commands():
    "The README's install-and-run command and its test command are the ones CI uses."
    readme = (ROOT / "README.md").read_text()
    assert 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/distill demo' in readme
    assert ".venv/bin/pytest" in readme
    assert ".venv/bin/pytest" in (ROOT / ".ci" / "run").read_text()


def _distill_imports(path: Path, package: str) -> set[str]:
    "Every `distill` module `path` imports, at the top or inside a function."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
            target = ".".join(parts + [node.module] if node.module else parts) if node.level else (node.module or "")
            found.add(target)
        elif isinstance(node, ast.Import): found |= {a.name for a in node.names}
    return {t for t in found if t.startswith("distill.")}


def test_modules_import_one_way():
    "No import cycle between distill modules, counting imports inside functions (layers point one way)."
    graph = {}
    for path in (ROOT / "distill").rglob("*.py"):
        if path.name == "_modidx.py": continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[module] = _distill_imports(path, module.rsplit(".", 1)[0]) - {module}
    def visit(module, stack):
        assert module not in stack, "import cycle: " + " → ".join(stack[stack.index(module):] + [module])
        for dep in graph.get(module, ()): visit(dep, stack + [module])
    for module in graph: visit(module, [])
    assert graph["distill.prior_model"] <= {"distill.model"}, "the prior's network knows nothing of files or training"
