"""Reconstruction quality on recordings the model never saw, measured with the acceptance checks' own metric.

    python bench/reconstruction_quality.py [--model M.distill | --train DIR] [--test DIR] [--epochs 40] [--seed 0] [--test-files 16]
                                           [--kinds kick,snare,hat,noise] [--metrics ../shared/tools/audio_metrics.py]

Without --model, trains a default RVQ-VAE on --train (default: 100 synthesised one-shots). For every file in --test
(default: --test-files 16 synthesised one-shots from another seed, so none was seen in training) it writes what `distill reconstruct`
writes and what Griffin-Lim makes of the file's true mel spectrogram (the limit of this vocoder), and prints the
log-spectral distance of both (80 dB floor, three STFT sizes) as computed by `audio_metrics.py`. `--kinds` limits
the synthesised sounds to some families (e.g. a drum-only corpus, closer to a folder of drum one-shots)."""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

from distill.audio import load_audio, mel_to_audio, write_audio
from distill.data import synth_demo_corpus
from distill.modelfile import load_model
from distill.train import TrainParams, train_vqvae

ROOT = Path(__file__).resolve().parents[1]


def lsd(metrics: Path, original: Path, test: Path) -> float:
    out = subprocess.run([sys.executable, str(metrics), str(original), str(test)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["lsd_db"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model"); ap.add_argument("--train"); ap.add_argument("--test")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--test-files", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="training seed (the validation split and initialisation)")
    ap.add_argument("--kinds", help="comma-separated demo sound kinds for the synthesised corpora (default: all)")
    ap.add_argument("--metrics", default=str(ROOT.parent / "shared" / "tools" / "audio_metrics.py"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    metrics = Path(a.metrics)
    if not metrics.exists(): sys.exit(f"{metrics}: metrics script not found (pass --metrics)")
    test = Path(a.test) if a.test else work / "test"
    kinds = dict(kinds=tuple(a.kinds.split(","))) if a.kinds else {}
    if not a.test: synth_demo_corpus(test, n_files=a.test_files, seed=99, **kinds)
    model_path = Path(a.model) if a.model else work / "model.distill"
    if not a.model:
        train = Path(a.train) if a.train else work / "train"
        if not a.train: synth_demo_corpus(train, n_files=100, seed=1, **kinds)
        t0 = time.time()
        for _ in train_vqvae(train, model_path, params=TrainParams(epochs=a.epochs, seed=a.seed, preview_every=0)): pass
        print(f"trained {a.epochs} epochs in {time.time() - t0:.0f} s")
    model = load_model(model_path)
    rows = []
    for f in sorted(p for p in test.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".aif", ".aiff", ".ogg")):
        x, rate = load_audio(f, model.audio.sample_rate)
        write_audio(work / "rec.wav", model.reconstruct(x), rate, "float")
        write_audio(work / "gl.wav", mel_to_audio(model.mel(x), model.audio)[: len(x)], rate, "float")
        rows.append((f.name, lsd(metrics, f, work / "rec.wav"), lsd(metrics, f, work / "gl.wav")))
        print(f"{f.name:<28} model {rows[-1][1]:5.2f} dB   Griffin-Lim on the true mel {rows[-1][2]:5.2f} dB")
    print(f"mean over {len(rows)} unseen files: model {np.mean([r[1] for r in rows]):.2f} dB, "
          f"vocoder limit {np.mean([r[2] for r in rows]):.2f} dB")


if __name__ == "__main__":
    main()
