"""Calibrate the novelty verdict's thresholds on real recordings.

For a trained model and its training folder, prints percentiles of the spectral distance (dB) and the copied share
for: each training file's codes after a round trip through audio (reconstruct → encode again: what a copy of it
measures), each file against its nearest *other* training file (what a variation within the kit measures),
files of another kit (`--other`), and random codes; then the verdict each group gets with NOVELTY_THRESHOLDS.

    python bench/novelty_calibration.py --model M.distill --train DIR [--other DIR] [--threads 1] [--limit 0]
"""
import argparse, statistics
from pathlib import Path

import torch

from distill.audio import load_audio
from distill.modelfile import load_model
from distill.novelty import CorpusCodes, NoveltyJudge, NOVELTY_THRESHOLDS, audible_columns, longest_copied_run, spectral_distance
from reconstruction_quality import audio_files   # the same files every bench measures


def pct(values, qs=(5, 25, 50, 75, 95)):
    s = sorted(values)
    return "  ".join(f"p{q} {s[min(len(s) - 1, int(q / 100 * len(s)))]:.2f}" for q in qs)


def share(judge, codes, mel):
    a = audible_columns(mel, judge.model.audio, judge.model.config.downsample)[: codes.shape[-1]]
    run, _ = longest_copied_run(codes, judge.corpus, judge.model.config.codebook_size, a)
    return run / max(int(a.sum()), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True); ap.add_argument("--train", required=True); ap.add_argument("--other")
    ap.add_argument("--threads", type=int, default=1); ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    files = audio_files(Path(a.train))[: a.limit or None]
    judge = NoveltyJudge(model, CorpusCodes.from_files(model, files))
    groups = {"round trip (copy)": [], "nearest other file (variation)": [], "another kit": [], "random codes": []}
    for i, f in enumerate(files):
        audio, _ = load_audio(f, model.audio.sample_rate)
        codes = model.encode_audio(model.reconstruct(audio))
        mel = model.decode_mel(codes)
        groups["round trip (copy)"].append((float(spectral_distance(mel, [judge.mels[i]], model.audio)[0]), share(judge, codes, mel), judge(codes, mel).verdict))
        d = spectral_distance(judge.mels[i], judge.mels, model.audio); d[i] = float("inf")
        groups["nearest other file (variation)"].append((float(d.min()), 0.0, None))
    for f in audio_files(Path(a.other))[: a.limit or None] if a.other else []:
        codes = model.encode_audio(load_audio(f, model.audio.sample_rate)[0]); mel = model.decode_mel(codes)
        n = judge(codes, mel); groups["another kit"].append((n.distance_db, share(judge, codes, mel), n.verdict))
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        codes = torch.randint(0, model.config.codebook_size, (model.config.rvq_levels, 20), generator=g); mel = model.decode_mel(codes)
        n = judge(codes, mel); groups["random codes"].append((n.distance_db, share(judge, codes, mel), n.verdict))
    print(f"thresholds {NOVELTY_THRESHOLDS}")
    for name, rows in groups.items():
        if not rows: continue
        verdicts = {v: sum(r[2] == v for r in rows) for v in ("copy", "variation", "new")} if rows[0][2] else {}
        print(f"{name:32s} n={len(rows):3d}  distance dB: {pct([r[0] for r in rows])}  | copied share median "
              f"{statistics.median(r[1] for r in rows):.2f}  {verdicts}")


if __name__ == "__main__":
    main()
