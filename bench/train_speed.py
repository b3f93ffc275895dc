"""Training throughput of the default RVQ-VAE configuration on the demo corpus, on the CPU.

Prints chunks/s, s/epoch and peak memory (resident set size) for a few epochs of `distill.train.train_vqvae` with
default settings on the synthesised demo corpus (32 files unless --files is given).

    python bench/train_speed.py [--files 32] [--epochs 3] [--threads 2] [--device cpu]
"""
import argparse, resource, tempfile, time
from pathlib import Path

import torch

from distill.data import synth_demo_corpus
from distill.train import EpochEnd, TrainFinished, TrainParams, TrainStarted, chunk_frames, train_vqvae


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp())
    synth_demo_corpus(work / "corpus", n_files=a.files)
    params = TrainParams(epochs=a.epochs, device=a.device, preview_every=0)
    t0 = time.time()
    epoch_times, config = [], None
    for e in train_vqvae(work / "corpus", work / "bench.distill", params=params):
        if isinstance(e, TrainStarted):
            setup, config = time.time() - t0, e.config
        elif isinstance(e, EpochEnd):
            epoch_times.append(e.seconds); chunks_per_epoch = e.extra["chunks"]
        elif isinstance(e, TrainFinished):
            levels = e.levels
    total = time.time() - t0
    per_epoch = sum(epoch_times[1:]) / max(1, len(epoch_times) - 1) if len(epoch_times) > 1 else epoch_times[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"device {a.device}, {a.threads} threads, {a.files} files, config: {config['rvq_levels']} levels × {config['codebook_size']} codes, hidden {config['hidden']}")
    print(f"setup (scan + mels + k-means init): {setup:.1f} s")
    print(f"s/epoch: {per_epoch:.2f}   chunks/s: {chunks_per_epoch / per_epoch:.1f}   ({chunks_per_epoch} chunks of {params.chunk_seconds} s per epoch)")
    print(f"total for {a.epochs} epochs: {total:.1f} s   peak RSS: {peak_mb:.0f} MB")
    print("final utilisation per level: " + ", ".join(f"L{l.level} {100 * l.utilization:.0f}%" for l in levels))


if __name__ == "__main__":
    main()
