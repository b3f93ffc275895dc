"""Why generated one-shots re-attack: where the rise is, which level's code makes it, how likely the prior found it.

    python bench/one_shot_reattacks.py --model M.distill [--count 64] [--seed 100] [--temperature T] [--top-p P] [--threads 1]

For --count one-shots (seeds --seed, --seed + 1, …) it prints: re-attacks per sound by the acceptance checks' measure
(../shared/tools/gen_metrics.py: the 10 ms envelope climbing more than 6 dB above its lowest point since the peak) and
rises of the decoded spectrogram's frame energy by the same rule; for every such rise, which level's code, held to the
column before's, removes it (or none alone); the prior's teacher-forced −log-likelihood and rank of the codes drawn,
over all columns and at the rises; and the same likelihoods on the training files' own codes (as the model file keeps
them), whose decoded spectrograms are counted too. Figures measured with it: 07_generate, "One-shots that decay once".
"""
import argparse, importlib.util
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly

from distill.audio import frame_energy
from distill.generate import SamplingParams, code_vectors, decode_vectors, generate_sounds, limit_loudness
from distill.modelfile import load_model
from distill.novelty import stored_corpus
from distill.prior import with_envelope
from distill.prior_model import codes_to_tokens, start_token

METRICS = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "gen_metrics.py"


def frame_db(model, codes) -> torch.Tensor:
    "Decoded frame energy in dB."
    mel = limit_loudness(model, decode_vectors(model, code_vectors(model, codes)))
    return 10 * torch.log10(frame_energy(mel, model.audio) + 1e-12)


def rises(db: torch.Tensor, rise_db: float = 6.0, range_db: float = 40.0) -> list[int]:
    "Frames after the peak where the level climbs more than `rise_db` above its lowest since the peak (the acceptance rule)."
    peak, low, top, found = int(db.argmax()), 0.0, float(db.max()), []
    for i in range(peak + 1, len(db)):
        v = float(db[i]) - top
        if v < -range_db: break
        low = min(low, v)
        if v - low > rise_db: found.append(i); low = v
    return found


@torch.no_grad()
def likelihoods(model, codes) -> tuple[torch.Tensor, torch.Tensor]:
    "Teacher-forced −log-likelihood and rank of each code `[columns, levels]` (one window from the sound's start, as generated)."
    prior = model.prior.eval(); c = prior.config
    rows = with_envelope(model, codes, c.envelope) if c.envelope else codes
    columns = min(rows.shape[-1], c.window)
    tokens = codes_to_tokens(rows[:, :columns], c.codebook_size)
    ids = torch.cat([torch.tensor([start_token(c, True)]), tokens[:-1]])[None]
    logp = prior(ids)[0].log_softmax(-1)
    target = rows[:, :columns].T.reshape(-1, 1)
    chosen = logp.gather(1, target)
    nll, rank = (-chosen[:, 0]).view(columns, -1), (logp > chosen).sum(1).view(columns, -1)
    return (nll[:, 1:], rank[:, 1:]) if c.envelope else (nll, rank)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True); ap.add_argument("--count", type=int, default=64); ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--temperature", type=float); ap.add_argument("--top-p", type=float); ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = importlib.util.spec_from_file_location("gen_metrics", METRICS); gm = importlib.util.module_from_spec(spec); spec.loader.exec_module(gm)
    model = load_model(a.model); D, L = model.config.downsample, model.config.rvq_levels
    sounds = list(generate_sounds(model, a.count, "one-shot", 4.0, SamplingParams(seed=a.seed, temperature=a.temperature, top_p=a.top_p)))
    audio_rises, mel_rises, blame, at_rise, every = [], [], np.zeros(L + 1, dtype=int), [], []
    for g in sounds:
        audio_rises.append(gm.reattacks(resample_poly(g.audio.numpy().astype(np.float64), gm.SR, g.sample_rate)))
        found = rises(frame_db(model, g.codes)); mel_rises.append(len(found))
        nll, rank = likelihoods(model, g.codes); every.append((nll, rank))
        for frame in found:
            column = frame // D
            if not 0 < column < g.codes.shape[-1]: continue
            if column < len(nll): at_rise.append((nll[column], rank[column]))
            removed = []
            for level in range(L):   # hold this level's code to the column before's: is the rise gone?
                held = g.codes.clone(); held[level, column] = g.codes[level, column - 1]
                removed.append(all(abs(f - frame) > 2 for f in rises(frame_db(model, held))))
            if any(removed): blame[:L] += removed
            else: blame[L] += 1
    ar, mr = np.array(audio_rises), np.array(mel_rises)
    print(f"{a.count} one-shots: re-attacks {ar.mean():.2f} per sound, in {np.mean(ar > 0):.0%} of them; "
          f"decoded spectrogram rises {mr.mean():.2f} per sound, in {np.mean(mr > 0):.0%}")
    print("rises removed by holding one level's code (" + ", ".join(model.roles) + ", none alone): " + ", ".join(map(str, blame))
          + f" of {int(mr.sum())}")
    stat = lambda pairs: (torch.cat([p[0].reshape(-1, L) for p in pairs]).mean(0).tolist(), torch.cat([p[1].reshape(-1, L) for p in pairs]).float().median(0).values.tolist())
    for name, pairs in (("generated, every column", every), ("generated, at the rises", at_rise)):
        if pairs:
            nll, rank = stat(pairs)
            print(f"{name}: −log-likelihood per level {', '.join(f'{v:.2f}' for v in nll)}; median rank {', '.join(f'{v:.0f}' for v in rank)}")
    corpus = stored_corpus(model)
    if corpus is not None:
        nll, rank = stat([likelihoods(model, c) for c in corpus.codes])
        own = np.array([len(rises(frame_db(model, c))) for c in corpus.codes])
        print(f"training files' own codes: −log-likelihood per level {', '.join(f'{v:.2f}' for v in nll)}; median rank "
              f"{', '.join(f'{v:.0f}' for v in rank)}; decoded rises {own.mean():.2f} per file, in {np.mean(own > 0):.0%}")


if __name__ == "__main__":
    main()
