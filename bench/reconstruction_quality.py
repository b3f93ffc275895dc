"""Reconstruction quality — on training files, on recordings the model never saw, after leading silence, and on a long
recording — measured with the acceptance checks' own metric (../shared/tools/audio_metrics.py).

    python bench/reconstruction_quality.py [--model M.distill | --train DIR] [--test DIR ...] [--train-check N]
                                           [--shift 0.5] [--long FILE --long-start 60 --long-seconds 30]
                                           [--epochs 50] [--seed 0] [--set NAME=VALUE ...] [--config NAME=VALUE ...]
                                           [--kinds kick,snare] [--threads 1] [--json OUT.json]

Without --model, trains a default RVQ-VAE on --train (default: 100 synthesised one-shots) and reports the wall time,
reading included (--set changes TrainParams fields, --config VQVAEConfig fields, for experiments). For every file it
writes what `distill reconstruct` writes and what Griffin-Lim makes of the file's true mel spectrogram (the limit of
this vocoder), and prints per file and as means: LSD and MR-STFT (80 dB floor, three STFT sizes), RMS level error and
peak error in dB (the summary gives the mean of their absolute values and the worst file), and the level error of
the decoder alone (`reconstruct(match_level=False)`: without the level a code file carries).
  --train-check N  also measure N training files spread over the folder (-1: all) and the files training held out
  --shift S        also measure every test file after S seconds of leading silence (against the shifted original)
  --long FILE      a long recording through encode + decode (the codes path): level error of every second that is
                   within 40 dB of the loudest second
Files shorter than the metric's largest STFT (93 ms) are skipped and named. Real recordings for it:
../shared/ENVIRONMENT.md ("Real recordings"). Figures measured with it: the last section of nbs/05_train.ipynb."""
import argparse, importlib.util, json, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

from distill.audio import load_audio, mel_to_audio, write_audio, fit_length
from distill.codes import encode_audio, grid_to_audio
from distill.data import synth_demo_corpus, scan_dataset, split_files, AUDIO_EXTENSIONS
from distill.modelfile import load_model
from distill.train import TrainParams, train_vqvae

ROOT = Path(__file__).resolve().parents[1]


def load_metrics(path: Path):
    spec = importlib.util.spec_from_file_location("audio_metrics", path)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module


def measure(metrics, original: Path, test: Path) -> dict:
    "What `audio_metrics.py ORIGINAL TEST` prints."
    a, b = metrics.load_raw(str(original)), metrics.load_raw(str(test))
    return {**metrics.compare(a / (np.abs(a).max() + 1e-9), b / (np.abs(b).max() + 1e-9)), **metrics.levels(a, b)}


def too_short_for_metric(samples: int, rate: int) -> bool:
    "The metric's largest STFT (2048 samples at 22.05 kHz) needs 93 ms."
    return samples < 2048 * rate / 22050


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))


def measure_files(model, metrics, files, work: Path, label: str, shift: float = 0.0) -> list[dict]:
    "Model and Griffin-Lim figures for every file (after `shift` seconds of leading silence when given)."
    rate, rows = model.audio.sample_rate, []
    for f in files:
        x, _ = load_audio(f, rate)
        if shift: x = torch.cat([torch.zeros(round(shift * rate)), x])
        if too_short_for_metric(len(x), rate):
            print(f"  {f.name[:34]:<34} skipped: {len(x) / rate * 1000:.0f} ms is too short for the metric"); continue
        write_audio(work / "orig.wav", x, rate, "float")
        write_audio(work / "rec.wav", model.reconstruct(x), rate, "float")
        write_audio(work / "gl.wav", fit_length(mel_to_audio(model.mel(x), model.audio), len(x)), rate, "float")
        write_audio(work / "decoder.wav", model.reconstruct(x, match_level=False), rate, "float")
        row = dict(set=label, file=f.name, model=measure(metrics, work / "orig.wav", work / "rec.wav"),
                   griffin_lim=measure(metrics, work / "orig.wav", work / "gl.wav"),
                   decoder_level_err_db=metrics.levels(metrics.load_raw(str(work / "orig.wav")), metrics.load_raw(str(work / "decoder.wav")))["level_err_db"])
        rows.append(row)
        m, g = row["model"], row["griffin_lim"]
        print(f"  {f.name[:34]:<34} LSD {m['lsd_db']:5.2f} (GL {g['lsd_db']:5.2f})  MR-STFT {m['mrstft']:5.2f} (GL {g['mrstft']:5.2f})"
              f"  level {m['level_err_db']:+6.1f} (GL {g['level_err_db']:+5.1f}; decoder alone {row['decoder_level_err_db']:+6.1f})"
              f"  peak {m['peak_err_db']:+6.1f} dB", flush=True)
    return rows


def summarise(rows: list[dict], label: str) -> dict:
    mean = lambda who, k, f=lambda v: v: float(np.mean([f(r[who][k]) for r in rows]))
    s = dict(set=label, files=len(rows),
             **{f"{who}_{k}": mean(who, k) for who in ("model", "griffin_lim") for k in ("lsd_db", "mrstft")},
             **{f"{who}_abs_{k}": mean(who, k, abs) for who in ("model", "griffin_lim") for k in ("level_err_db", "peak_err_db")},
             model_worst_abs_level_err_db=float(max(abs(r["model"]["level_err_db"]) for r in rows)),
             decoder_abs_level_err_db=float(np.mean([abs(r["decoder_level_err_db"]) for r in rows])))
    print(f"{label}: {len(rows)} files — model LSD {s['model_lsd_db']:.2f} dB (Griffin-Lim on the true mel {s['griffin_lim_lsd_db']:.2f}), "
          f"MR-STFT {s['model_mrstft']:.2f} ({s['griffin_lim_mrstft']:.2f}), mean |level error| {s['model_abs_level_err_db']:.2f} dB "
          f"(worst {s['model_worst_abs_level_err_db']:.1f}; GL {s['griffin_lim_abs_level_err_db']:.2f}), "
          f"mean |peak error| {s['model_abs_peak_err_db']:.2f} dB (GL {s['griffin_lim_abs_peak_err_db']:.2f}); "
          f"the decoder alone, without the code file's level: mean |level error| {s['decoder_abs_level_err_db']:.2f} dB", flush=True)
    return s


def measure_long(model, path: Path, start: float, seconds: float) -> dict:
    """Encode + decode `seconds` of `path` from `start` through the codes path; level error per second, with the code
    file's level track and, for comparison, with its one whole-file gain alone."""
    rate = model.audio.sample_rate
    x, _ = load_audio(path, rate)
    x = x[round(start * rate): round((start + seconds) * rate)]
    grid = encode_audio(model, x)
    one_gain = grid.copy(keep_history=False); one_gain.level_track_db = None
    rms_db = lambda v: 20 * np.log10(float(v.pow(2).mean().sqrt()) + 1e-12)
    loudest = max(rms_db(x[i * rate:(i + 1) * rate]) for i in range(len(x) // rate))
    result = dict(file=path.name, start=start, seconds=seconds)
    for name, g in (("", grid), ("one_gain_", one_gain)):
        y = fit_length(grid_to_audio(model, g), len(x))
        secs = [(rms_db(x[i * rate:(i + 1) * rate]), rms_db(y[i * rate:(i + 1) * rate])) for i in range(len(x) // rate)]
        errors = [b - a for a, b in secs if a > loudest - 40]
        print(f"long recording {path.name} {start:g}–{start + seconds:g} s{', one whole-file gain, no level track' if name else ''}: "
              "per-second level error (within 40 dB of the loudest) " + " ".join(f"{e:+.1f}" for e in errors))
        print(f"  worst |level error| {max(map(abs, errors)):.2f} dB, mean {np.mean(errors):+.2f} dB, finite: {bool(torch.isfinite(y).all())}")
        result.update({f"{name}errors_db": errors, f"{name}worst_abs_db": float(max(map(abs, errors)))})
    return result

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model"); ap.add_argument("--train"); ap.add_argument("--test", nargs="*", default=None)
    ap.add_argument("--epochs", type=int, default=TrainParams.epochs)
    ap.add_argument("--test-files", type=int, default=16)
    ap.add_argument("--train-check", type=int, default=0, help="training files to measure too (-1: all)")
    ap.add_argument("--shift", type=float, default=0.0, help="also measure the test files after this much leading silence")
    ap.add_argument("--long"); ap.add_argument("--long-start", type=float, default=60.0); ap.add_argument("--long-seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0, help="training seed (the validation split and initialisation)")
    ap.add_argument("--kinds", help="comma-separated demo sound kinds for the synthesised corpora (default: all)")
    ap.add_argument("--metrics", default=str(ROOT.parent / "shared" / "tools" / "audio_metrics.py"))
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="training parameters to change (TrainParams fields)")
    ap.add_argument("--config", nargs="*", default=[], metavar="NAME=VALUE", help="model settings to change (VQVAEConfig fields)")
    ap.add_argument("--threads", type=int, help="torch threads (two runs side by side: 1 each)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    metrics_path = Path(a.metrics)
    if not metrics_path.exists(): sys.exit(f"{metrics_path}: metrics script not found (pass --metrics)")
    metrics = load_metrics(metrics_path)
    kinds = dict(kinds=tuple(a.kinds.split(","))) if a.kinds else {}
    tests = [Path(t) for t in a.test] if a.test else [work / "test"]
    if not a.test: synth_demo_corpus(tests[0], n_files=a.test_files, seed=99, **kinds)
    train = Path(a.train) if a.train else work / "train"
    if not a.model and not a.train: synth_demo_corpus(train, n_files=100, seed=1, **kinds)
    model_path = Path(a.model) if a.model else work / "model.distill"
    report = dict(train_seconds=None, sets=[], rows=[], long=None)
    if a.threads: torch.set_num_threads(a.threads)
    if not a.model:
        t0 = time.time()
        typed = lambda v: True if v == "True" else False if v == "False" else int(v) if v.lstrip("-").isdigit() else float(v)
        changes = {k: typed(v) for k, v in (kv.split("=", 1) for kv in a.set)}
        unknown = set(changes) - set(TrainParams.__dataclass_fields__)
        if unknown: sys.exit(f"unknown training parameters: {', '.join(sorted(unknown))}")
        params = TrainParams(epochs=a.epochs, seed=a.seed, preview_every=0, **changes)
        overrides = {k: typed(v) for k, v in (kv.split("=", 1) for kv in a.config)}
        for _ in train_vqvae(train, model_path, params=params, **overrides): pass
        report["train_seconds"] = time.time() - t0
        print(f"trained {a.epochs} epochs in {report['train_seconds']:.0f} s (reading included): {model_path}", flush=True)
    model = load_model(model_path)
    torch.set_grad_enabled(False)
    sets = []
    if a.train_check and a.train:
        # the files the model learned from, and the ones training held out to choose its best epoch (same split as training)
        learned, held_out = split_files(scan_dataset(train).files, TrainParams.val_fraction, a.seed)
        step = max(1, len(learned) // a.train_check) if a.train_check > 0 else 1   # evenly spread over the sorted folder
        sets.append(("training files", [Path(f) for f in sorted(learned)[::step][:a.train_check if a.train_check > 0 else None]], 0.0))
        sets.append(("validation files (held out of training)", [Path(f) for f in sorted(held_out)], 0.0))
    for t in tests:
        sets.append((f"unseen: {t.name}", audio_files(t), 0.0))
        if a.shift: sets.append((f"unseen: {t.name} after {a.shift:g} s of silence", audio_files(t), a.shift))
    for label, files, shift in sets:
        print(label, flush=True)
        rows = measure_files(model, metrics, files, work, label, shift)
        report["rows"] += rows
        report["sets"].append(summarise(rows, label))
    if len(tests) > 1:
        unseen = [r for r in report["rows"] if r["set"].startswith("unseen") and "silence" not in r["set"]]
        report["sets"].append(summarise(unseen, "all unseen files"))
    if a.long: report["long"] = measure_long(model, Path(a.long), a.long_start, a.long_seconds)
    if a.json: Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
