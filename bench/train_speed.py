"""Training speed of both stages with default settings: steps per second, wall time, the time announced before the
run and how far the run strayed from it, and peak memory — on the CPU unless --device says otherwise.

    python bench/train_speed.py [--corpus blackpearl|textures|large|demo|DIR] [--stages vqvae,prior]
                                [--minutes M] [--epochs N] [--prior-epochs N] [--threads 2] [--device auto] [--work DIR]

Corpora: `blackpearl` (The Black Pearl 1.0, 106 hits), `textures` (30 ten-second wesnoth excerpts, as
bench/texture_quality.py builds them), `large` (every hydrogen-drumkits kit except the four kept apart for measuring,
some 700 files, linked into one folder), `demo` (32 synthesised sounds), or any folder. Each stage runs in its own
process, so the peak resident memory printed is that stage's alone (reading the audio included). Wall time counts
from the start of the stage's process to its model file, reading included — what `distill train` makes a user wait
for; `epochs` is the time of the epochs alone, the part the announced estimate covers.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
KITS = Path("/usr/share/hydrogen/data/drumkits")
KEPT_APART = {"ColomboAcousticDrumkit", "Millo_MultiLayered2", "Gimme A Hand 1.0", "VariBreaks"}   # ../shared/ENVIRONMENT.md


def corpus_folder(name: str, work: Path) -> Path:
    "The folder a corpus name stands for, built under `work` when it has to be."
    if name == "blackpearl": return KITS / "The Black Pearl 1.0"
    if name == "demo":
        from distill.data import synth_demo_corpus
        synth_demo_corpus(work / "demo", n_files=32)
        return work / "demo"
    if name == "textures":
        from texture_quality import excerpt_corpus
        excerpt_corpus(work / "textures")
        return work / "textures"
    if name == "large":
        folder = work / "large"   # a folder per kit, its files linked (the scan does not follow linked folders)
        for kit in sorted(KITS.iterdir()):
            if not kit.is_dir() or kit.name in KEPT_APART: continue
            for f in kit.rglob("*"):
                link = folder / kit.name / f.relative_to(kit)
                if f.is_file() and not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(f)
        return folder
    return Path(name)


def run_stage(stage: str, corpus: Path, model: Path, a) -> dict:
    "One stage in this process (the child): its events' figures, wall time and peak memory."
    import torch
    torch.set_num_threads(a.threads)
    from distill.train import TrainStarted, EpochEnd, TrainFinished, TrainParams, train_vqvae
    from distill.prior import PriorTrainParams, train_prior
    t0 = time.time()
    if stage == "vqvae":
        epochs = dict(epochs=a.epochs) if a.epochs else {}
        events = train_vqvae(corpus, model, params=TrainParams(device=a.device, minutes=a.minutes, preview_every=0, **epochs))
    else:
        epochs = dict(epochs=a.prior_epochs) if a.prior_epochs else {}
        events = train_prior(model, corpus, params=PriorTrainParams(device=a.device, minutes=a.minutes, **epochs))
    out, steps = {}, 0
    for e in events:
        if isinstance(e, TrainStarted):
            out.update(setup=time.time() - t0, estimate=e.estimate_seconds, steps_per_epoch=e.steps_per_epoch,
                       step_seconds=e.step_seconds, epochs=e.epochs, device=e.device, files=e.dataset["files"],
                       audio_seconds=e.dataset["total_seconds"])
        elif isinstance(e, EpochEnd): steps += out["steps_per_epoch"]
        elif isinstance(e, TrainFinished):
            out.update(epochs_seconds=e.extra.get("seconds"), val_loss=e.val_loss, epochs_run=e.epochs_run)
    out.update(wall=time.time() - t0, steps=steps, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def report(stage: str, r: dict) -> str:
    est, took = r.get("estimate"), r.get("epochs_seconds")
    off = f"{100 * (took / est - 1):+.0f} %" if est and took else "—"
    return (f"{stage:6} {r['files']} files ({r['audio_seconds']:.0f} s) on {r['device']}: {r['epochs_run']} epoch{'' if r['epochs_run'] == 1 else 's'} × {r['steps_per_epoch']} steps, "
            f"{r['steps'] / max(took or r['wall'], 1e-9):.2f} steps/s; announced {est or float('nan'):.0f} s, epochs took {took or float('nan'):.0f} s "
            f"({off}); wall {r['wall']:.0f} s (reading and setup {r['setup']:.0f} s); peak {r['peak_mb']:.0f} MB; val {r['val_loss']:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="blackpearl")
    ap.add_argument("--stages", default="vqvae,prior")
    ap.add_argument("--minutes", type=float, default=None, help="a time budget for each stage (default: its default epochs)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--prior-epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--work", default=None, help="folder for the corpus and model (default: a new temporary one)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="train_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    if a.child:   # one stage, in its own process: print its figures as JSON
        print("RESULT " + json.dumps(run_stage(a.child, Path(a.corpus), work / "bench.distill", a)))
        return
    corpus = corpus_folder(a.corpus, work)
    args = [f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items() if v is not None and k not in ("corpus", "child", "work", "stages")]
    for stage in a.stages.split(","):
        done = subprocess.run([sys.executable, __file__, "--child", stage, "--corpus", str(corpus), "--work", str(work), *args],
                              capture_output=True, text=True)
        line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None: sys.exit(f"{stage} failed:\n{done.stderr[-3000:]}")
        print(report(stage, json.loads(line[7:])), flush=True)


if __name__ == "__main__":
    main()
