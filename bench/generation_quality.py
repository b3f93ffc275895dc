"""How generated sounds measure against the collection they come from, next to references.

Generates --count sounds from a model (its default mode unless --mode), then prints ../shared/tools/gen_metrics.py's
figures (Fréchet distance of log-mel frames to the kit, onsets per file and per second, level, re-attacks) for: the
generated sounds; --subset files of the kit itself; the model's reconstructions of those files; and, with --other,
another collection. With a prior that kept its training codes, also the novelty verdicts.

    python bench/generation_quality.py --train DIR --model M.distill [--count 16] [--other DIR] [--threads 2] [--batches 1]
                                       [--seeds 100,101,…] [--kinds kick,snare,"closed hat",tom,crash --per-kind 8]
                                       [--like FILE,FILE … --per-like 8 --keep structure]

With --batches N, N batches of --count sounds at seeds --seed, --seed + 100, … each measured alone, then their mean and
range: a Fréchet distance over 16 sounds swings with what one batch happens to contain.

Each row gives **re-attacks** (gen_metrics: after its peak a sound's 10 ms envelope climbs more than 6 dB above its
lowest point since the peak) per sound and the share of sounds with one; **restarts per file**
(`distill.generate.restarts`: a sound falls 50 dB under its peak and comes back within 30 dB); and **short**: the share of
files whose sound (`distill.generate.level_span`) is shorter than the kit's shortest.

--kinds asks the model for --per-kind sounds of each kind and reports, per kind, how many have a kit file *of that kind*
(by its name, `distill.data.kind_of`) as their nearest kit file by a plain spectral distance (`nearest_file`: mean
absolute difference of 64-band log-mel spectrograms aligned at their onsets, gen_metrics' own filterbank — not the
project's novelty judge), and its seconds per sound next to that kind's files in the kit. --like makes --per-like
variations of each named kit file and reports how many have a file of the same instrument (the name before its
velocity: `PearlSnare-Hard` → `PearlSnare`) as nearest, and their novelty verdicts.
"""
import argparse, json, subprocess, sys, tempfile, time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from scipy.signal import stft

from distill.audio import load_audio, normalised_to_db, write_audio
from distill.data import kind_of
from distill.generate import SamplingParams, generate_like, generate_sounds, level_span, restarts, save_generated
from distill.modelfile import load_model
from reconstruction_quality import ROOT, audio_files, load_metrics

METRICS = ROOT.parent / "shared" / "tools" / "gen_metrics.py"
gen_metrics = load_metrics(METRICS)


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
    return (f"{name:28s} FD {m['fd_mel']:8.0f}   onsets/file {m['onsets_per_file']:5.2f} (kit {m['ref_onsets_per_file']:.2f})   "
            f"level {m['level_db']:6.1f} dB (kit {m['ref_level_db']:.1f})   s/file {m.get('seconds_per_file', float('nan')):.2f} "
            f"(kit {m.get('ref_seconds_per_file', float('nan')):.2f})   re-attacks/sound {m['reattacks_per_sound']:.2f} "
            f"in {m['with_reattack']:.0%} (kit {m['ref_reattacks_per_sound']:.2f} in {m['ref_with_reattack']:.0%})"
            + (f"   restarts/file {m['restarts_per_file']:.2f}   short {m['short']:.0%}" if "restarts_per_file" in m else ""))


def spectrogram(path, seconds: float = 0.75) -> np.ndarray:
    "64-band log-mel (dB, gen_metrics' filterbank at 22.05 kHz) from the sound's onset for `seconds`, floored 60 dB under its peak."
    x = gen_metrics.load(str(path))
    power = np.abs(stft(x, fs=gen_metrics.SR, nperseg=gen_metrics.N, noverlap=gen_metrics.N - gen_metrics.HOP, boundary=None)[2]) ** 2
    db = 10 * np.log10(gen_metrics.FB @ power + 1e-12)
    energy = db.max(0)
    onset = int(np.argmax(energy > energy.max() - 20))
    frames = int(seconds * gen_metrics.SR / gen_metrics.HOP)
    db = np.maximum(db[:, onset:onset + frames], db.max() - 60)
    return np.pad(db, ((0, 0), (0, frames - db.shape[1])), constant_values=db.max() - 60) - db.max()


def nearest_file(path, kit: dict) -> str:
    "The kit file (`kit`: path → `spectrogram`) nearest to the sound at `path`: the least mean absolute dB difference."
    s = spectrogram(path)
    return min(kit, key=lambda f: float(np.abs(kit[f] - s).mean()))


def seconds_of(paths) -> float:
    return float(np.mean([len(gen_metrics.load(str(p))) / gen_metrics.SR for p in paths]))


def kind_check(model, a, files, out: Path):
    "Per asked kind: the share of sounds whose nearest kit file is of that kind, and seconds per sound against the kit's."
    kit = {f: spectrogram(f) for f in files}
    kinds = [k.strip() for k in a.kinds.split(",")]
    hits_all = 0
    for k, kind in enumerate(kinds):
        sampling = SamplingParams(temperature=a.temperature, top_p=a.top_p, seed=a.seed + 1000 * k, guidance=a.guidance)
        paths = [save_generated(out / f"kind_{kind.replace(' ', '-')}_{i:02d}.wav", g)
                 for i, g in enumerate(generate_sounds(model, a.per_kind, "one-shot", a.duration, sampling, kind=kind))]
        nearest = [nearest_file(p, kit) for p in paths]
        hits = sum(kind_of(n) == kind for n in nearest)
        hits_all += hits
        own = [f for f in files if kind_of(f) == kind]
        m = measure(a.train, paths)
        print(f"kind {kind:12s} nearest kit file of that kind: {hits}/{len(paths)}   s/sound {seconds_of(paths):.2f} "
              f"(kit's {kind} files {seconds_of(own):.2f})   re-attacks/sound {m['reattacks_per_sound']:.2f} in {m['with_reattack']:.0%}   "
              f"nearest: {dict(Counter(kind_of(n) for n in nearest))}")
    print(f"kinds: {hits_all}/{a.per_kind * len(kinds)} ({hits_all / (a.per_kind * len(kinds)):.0%}) have a kit file of the asked kind as nearest")


def instrument(path) -> str:
    "The instrument a kit file records: its name before the velocity (`PearlSnare-Hard` → `PearlSnare`)."
    return Path(path).stem.split("-")[0]


def like_check(model, a, files, out: Path):
    "Per source file: how many variations have a file of the same instrument as nearest kit file, and their verdicts."
    kit = {f: spectrogram(f) for f in files}
    for k, source in enumerate(s.strip() for s in a.like.split(",")):
        sampling = SamplingParams(temperature=a.temperature, top_p=a.top_p, seed=a.seed + 1000 * k, guidance=a.guidance)
        sounds = list(generate_like(model, source, a.per_like, a.keep, a.duration, sampling))
        paths = [save_generated(out / f"like_{Path(source).stem}_{i:02d}.wav", g) for i, g in enumerate(sounds)]
        nearest = [nearest_file(p, kit) for p in paths]
        same = sum(instrument(n) == instrument(source) for n in nearest)
        print(f"like {source:28s} same instrument nearest: {same}/{len(paths)}   verdicts {dict(Counter(g.novelty.verdict for g in sounds))}   "
              f"s/sound {seconds_of(paths):.2f}   nearest: {dict(Counter(instrument(n) for n in nearest))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True); ap.add_argument("--model", required=True)
    ap.add_argument("--count", type=int, default=16); ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--mode"); ap.add_argument("--other"); ap.add_argument("--subset", type=int, default=18)
    ap.add_argument("--temperature", type=float); ap.add_argument("--top-p", type=float)   # unset: the core's default for what is made
    ap.add_argument("--seed", type=int, default=0); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=1, help="batches of --count sounds, at seeds 100 apart")
    ap.add_argument("--kinds", help="comma-separated kinds to ask for (e.g. kick,snare,closed hat,tom,crash)")
    ap.add_argument("--per-kind", type=int, default=8); ap.add_argument("--guidance", type=float)
    ap.add_argument("--like", help="comma-separated kit files (names or paths) to make variations of")
    ap.add_argument("--per-like", type=int, default=8); ap.add_argument("--keep", default="structure")
    ap.add_argument("--skip-batches", action="store_true", help="only the --kinds and --like checks")
    ap.add_argument("--out", help="folder for the generated sounds (default: a temporary one)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    out = Path(a.out or tempfile.mkdtemp()); out.mkdir(parents=True, exist_ok=True)
    files = audio_files(Path(a.train))
    if a.kinds: kind_check(model, a, files, out)
    if a.like: like_check(model, a, files, out)
    if a.skip_batches: return
    shortest = min(span_frames(l) for l in levels(model, files))
    batches = []
    for b in range(a.batches):
        seed = a.seed + 100 * b
        t0 = time.time()
        sounds = list(generate_sounds(model, a.count, a.mode, a.duration, SamplingParams(temperature=a.temperature, top_p=a.top_p, seed=seed, guidance=a.guidance)))
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
        for k in ("fd_mel", "onsets_per_file", "level_db", "reattacks_per_sound", "with_reattack", "restarts_per_file", "short"):
            print(f"  {k}: {min(m[k] for m in batches):.2f} … {max(m[k] for m in batches):.2f}")
    subset = files[:: max(1, len(files) // a.subset)][: a.subset]
    recon = []
    for i, f in enumerate(subset):
        x, _ = load_audio(f, model.audio.sample_rate)
        recon.append(write_audio(out / f"recon_{i:02d}.wav", model.reconstruct(x), model.audio.sample_rate))
    print(row(f"kit subset ({len(subset)} files)", {**measure(a.train, subset), **one_shot_figures(model, subset, shortest)}))
    print(row("reconstructions of subset", {**measure(a.train, recon), **one_shot_figures(model, recon, shortest)}))
    if a.other:
        others = audio_files(Path(a.other))
        print(row(f"other: {Path(a.other).name}", {**measure(a.train, others), **one_shot_figures(model, others, shortest)}))


if __name__ == "__main__":
    main()
