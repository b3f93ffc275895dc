"""How much of the acceptance metric's LSD is fine detail: Griffin-Lim on each file's true log-mel, and on the same
log-mel with its detail removed — averaged over 3 neighbouring mel bands, over 3 frames, over both, or one spectrum per
code column (the RVQ-VAE's downsampling) — and with a small random error added to every bin.

A decoder's output is at best the true log-mel; where it lacks detail at some scale it is at best the smoothed one.
So the LSD of a smoothed row is what any decoder that does not reproduce that detail scores, however right it gets
everything coarser. No model is involved: only the audio parameters of the model file given (or the defaults).

    python bench/detail_floor.py DIR [DIR ...] [--model M.distill] [--noise-db 2] [--threads 2]

Measured with the acceptance checks' own metric (../shared/tools/audio_metrics.py), files written as float WAV as
`bench/reconstruction_quality.py` writes them; files shorter than the metric's largest STFT are skipped the same way."""
import argparse, tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from distill.audio import AudioParams, audio_to_mel, db_to_normalised, fit_length, load_audio, mel_to_audio, write_audio
from distill.model import VQVAEConfig
from distill.modelfile import load_model
from reconstruction_quality import ROOT, audio_files, load_metrics, measure, too_short_for_metric


def smooth(mel: torch.Tensor, bands: int, frames: int) -> torch.Tensor:
    "Normalised log-mel `[n_mels, frames]` averaged over `bands` × `frames` neighbours (in the log domain, edges averaged over fewer)."
    pooled = F.avg_pool2d(mel[None, None], (bands, frames), stride=1, padding=(bands // 2, frames // 2), count_include_pad=False)
    return pooled[0, 0, : mel.shape[0], : mel.shape[1]]


def column_mean(mel: torch.Tensor, frames: int) -> torch.Tensor:
    "One spectrum (the mean) per run of `frames` frames — what a decoder that renders each code column flat would give."
    n = mel.shape[1] // frames * frames
    out = mel.clone()
    out[:, :n] = mel[:, :n].unflatten(1, (-1, frames)).mean(-1, keepdim=True).expand(-1, -1, frames).flatten(1)
    return out


def variants(mel: torch.Tensor, column: int, noise_db: float, p: AudioParams, generator: torch.Generator) -> dict:
    noise = torch.randn(mel.shape, generator=generator) * (db_to_normalised(noise_db, p) - db_to_normalised(0.0, p))
    return {"true mel": mel, "3 bands": smooth(mel, 3, 1), "3 frames": smooth(mel, 1, 3), "3 × 3": smooth(mel, 3, 3),
            f"one per column ({column} frames)": column_mean(mel, column), f"+{noise_db:g} dB random": mel + noise}


def print_means(label: str, rows: list[dict]):
    print(f"{label[:28]:<28} {len(rows):4d} files   " + "   ".join(f"{k} {np.mean([r[k] for r in rows]):5.2f}" for k in rows[0]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+"); ap.add_argument("--model", help="take the audio parameters and column size from this model")
    ap.add_argument("--noise-db", type=float, default=2.0, help="RMS of the random error added to every bin (dB)")
    ap.add_argument("--metrics", default=str(ROOT.parent / "shared" / "tools" / "audio_metrics.py"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model) if a.model else None
    p, column = (model.audio, model.config.downsample) if model else (AudioParams(), VQVAEConfig().downsample)
    metrics, work, generator = load_metrics(Path(a.metrics)), Path(tempfile.mkdtemp()), torch.Generator().manual_seed(0)
    everything = []
    for folder in map(Path, a.folders):
        rows = []
        for f in audio_files(folder):
            x, _ = load_audio(f, p.sample_rate)
            if too_short_for_metric(len(x), p.sample_rate): continue
            write_audio(work / "orig.wav", x, p.sample_rate, "float")
            row = {}
            for name, mel in variants(audio_to_mel(x, p), column, a.noise_db, p, generator).items():
                write_audio(work / "gl.wav", fit_length(mel_to_audio(mel, p), len(x)), p.sample_rate, "float")
                row[name] = measure(metrics, work / "orig.wav", work / "gl.wav")["lsd_db"]
            rows.append(row)
        everything += rows
        print_means(folder.name, rows)
    if len(a.folders) > 1: print_means("all", everything)


if __name__ == "__main__":
    main()
