"""How generated sounds measure against the collection they come from, next to references.

Generates --count sounds from a model (its default mode unless --mode), then prints ../shared/tools/gen_metrics.py's
figures (Fréchet distance of log-mel frames to the kit, onsets per file and per second, level) for: the generated
sounds; --subset files of the kit itself; the model's reconstructions of those files; and, with --other, another
collection. With a prior that kept its training codes, also the novelty verdicts.

    python bench/generation_quality.py --train DIR --model M.distill [--count 16] [--other DIR] [--threads 2] [--batches 1]

With --batches N, N batches of --count sounds at seeds --seed, --seed + 100, … each measured alone, then their mean and
range: a Fréchet distance over 16 sounds swings with what one batch happens to contain.

Each row also gives **restarts per file** (`distill.generate.restarts`): how often a sound, once begun, falls more than
50 dB under its peak and comes back within 30 dB of it — a one-shot that stops and starts again (the kit's own files:
none); and **short**: the share of files whose sound (`distill.generate.level_span`, onset to 50 dB down) is shorter
than the kit's shortest — blips no file of the kit resembles.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time
from collections import Counter
from pathlib import Path

import torch

from distill.audio import load_audio, normalised_to_db, write_audio
from distill.generate import SamplingParams, generate_sounds, level_span, restarts, save_generated
from distill.modelfile import load_model

METRICS = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "gen_metrics.py"


def audio_files(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True) if p.lower().endswith((".wav", ".flac", ".ogg")))


def measure(reference, sounds):
    r = subprocess.run([sys.executable, str(METRICS), str(reference), *map(str, sounds)], capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def levels(model, paths) -> list:
    "Each sound file's level (dB per frame) on the model's own log-mel: the loudest band of each frame."
    return [normalised_to_db(model.mel(load_audio(p, model.audio.sample_rate)[0]), model.audio).amax(0) for p in paths]


def span_frames(level_db) -> int:
    first, last = level_span(level_db)
    return last - first


def one_shot_figures(model, paths, shortest: int) -> dict:
    "Mean `restarts` per file, and the share of files shorter than `shortest` frames."
    ls = levels(model, paths)
    return {"restarts_per_file": sum(len(restarts(l)) for l in ls) / max(len(ls), 1),
            "short": sum(span_frames(l) < shortest for l in ls) / max(len(ls), 1)}


def row(name, m):
    return (f"{name:28s} FD {m['fd_mel']:8.0f}   onsets/file {m['onsets_per_file']:5.2f} (kit {m['ref_onsets_per_file']:.2f})   onsets/s {m['onsets_per_s']:5.2f} "
            f"(kit {m['ref_onsets_per_s']:.2f})   level {m['level_db']:6.1f} dB (kit {m['ref_level_db']:.1f})   s/file {m.get('seconds_per_file', float('nan')):.2f}"
            + (f"   restarts/file {m['restarts_per_file']:.2f}   short {m['short']:.0%}" if "restarts_per_file" in m else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True); ap.add_argument("--model", required=True)
    ap.add_argument("--count", type=int, default=16); ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--mode"); ap.add_argument("--other"); ap.add_argument("--subset", type=int, default=18)
    ap.add_argument("--temperature", type=float, default=1.0); ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=1, help="batches of --count sounds, at seeds 100 apart")
    ap.add_argument("--out", help="folder for the generated sounds (default: a temporary one)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    out = Path(a.out or tempfile.mkdtemp()); out.mkdir(parents=True, exist_ok=True)
    files = audio_files(a.train)
    shortest = min(span_frames(l) for l in levels(model, files))
    batches = []
    for b in range(a.batches):
        seed = a.seed + 100 * b
        t0 = time.time()
        sounds = list(generate_sounds(model, a.count, a.mode, a.duration, SamplingParams(temperature=a.temperature, top_p=a.top_p, seed=seed)))
        seconds = time.time() - t0
        paths = [save_generated(out / f"gen_{b}_{i + 1:02d}.wav", g) for i, g in enumerate(sounds)]
        print(f"{a.count} {sounds[0].mode} sounds (seed {seed}) in {seconds:.1f} s ({sum(g.duration for g in sounds):.1f} s of audio) → {out}")
        batches.append({**measure(a.train, paths), **one_shot_figures(model, paths, shortest)})
        print(row("generated" if a.batches == 1 else f"generated, batch {b + 1}", batches[-1]))
        verdicts = Counter(g.novelty.verdict for g in sounds if g.novelty)
        if verdicts:
            print("novelty:", dict(verdicts), "· nearest:", Counter(g.novelty.nearest for g in sounds).most_common(3),
                  "· longest copied run %.2f s" % max(g.novelty.copied_seconds for g in sounds))
    if a.batches > 1:
        print(row(f"generated, mean of {a.batches}", {k: sum(m[k] for m in batches) / a.batches for k in batches[0]}))
        for k in ("fd_mel", "onsets_per_file", "level_db", "restarts_per_file", "short"):
            print(f"  {k}: {min(m[k] for m in batches):.2f} … {max(m[k] for m in batches):.2f}")
    subset = files[:: max(1, len(files) // a.subset)][: a.subset]
    recon = []
    for i, f in enumerate(subset):
        x, _ = load_audio(f, model.audio.sample_rate)
        recon.append(write_audio(out / f"recon_{i:02d}.wav", model.reconstruct(x), model.audio.sample_rate))
    print(row(f"kit subset ({len(subset)} files)", {**measure(a.train, subset), **one_shot_figures(model, subset, shortest)}))
    print(row("reconstructions of subset", {**measure(a.train, recon), **one_shot_figures(model, recon, shortest)}))
    if a.other:
        others = audio_files(a.other)
        print(row(f"other: {Path(a.other).name}", {**measure(a.train, others), **one_shot_figures(model, others, shortest)}))


if __name__ == "__main__":
    main()
