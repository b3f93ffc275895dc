"""Does the prior know that a sound's codes persist? A diagnostic for small corpora.

In a corpus of one-shots the Structure code (level 1) stays the same from one column to the next in about half of the
columns (57 % in the built-in demo). A prior that has learned this gives that repeat a matching probability; one that
has not samples a new Structure code almost every column, and its sounds come out as choppy re-attacks. This prints,
for a model with a prior and the training codes its file keeps (`distill.novelty.stored_corpus`):

- how often each level's code repeats the previous column's in the training files;
- the prior's mean probability of that repeat for the Structure level, teacher-forced on those files, and its
  teacher-forced perplexity per level;
- how often the Structure code repeats in `--count` sounds the prior samples (the model's default mode).

    python bench/prior_continuity.py --model M.distill [--count 16] [--seed 0] [--threads 2]
"""
import argparse, math

import torch

from distill.generate import SamplingParams, generate_sounds
from distill.modelfile import load_model
from distill.novelty import stored_corpus
from distill.prior_model import codes_to_tokens, start_token


def repeat_rate(grids: list[torch.Tensor]) -> list[float]:
    "Per level, the share of columns whose code equals the previous column's."
    same = torch.cat([(g[:, 1:] == g[:, :-1]).float() for g in grids if g.shape[-1] > 1], -1)
    return same.mean(-1).tolist()


@torch.no_grad()
def teacher_forced(prior, grids: list[torch.Tensor]) -> tuple[float, list[float]]:
    "Mean probability the prior gives to repeating the previous Structure code, and each level's perplexity."
    c = prior.eval().config
    keep, nll = [], [[] for _ in range(c.levels)]
    for codes in grids:
        codes = codes[:, : c.window - 1]
        tokens = codes_to_tokens(codes, c.codebook_size)
        ids = torch.cat([torch.tensor([start_token(c, True)]), tokens[:-1]])[None]
        logp = prior(ids)[0].log_softmax(-1)
        for t in range(len(tokens)):
            level, column = t % c.levels, t // c.levels
            nll[level].append(-float(logp[t, codes[level, column]]))
            if level == 0 and column > 0: keep.append(float(logp[t, codes[0, column - 1]].exp()))
    return sum(keep) / max(len(keep), 1), [math.exp(sum(n) / max(len(n), 1)) for n in nll]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True); ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0); ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    corpus = stored_corpus(model)
    if model.prior is None or corpus is None: raise SystemExit(f"{a.model}: needs a prior trained by this version (it keeps the training codes)")
    rates = repeat_rate(corpus.codes)
    keep, perplexity = teacher_forced(model.prior, corpus.codes)
    sounds = list(generate_sounds(model, a.count, None, 4.0, SamplingParams(seed=a.seed), novelty=False))
    print(f"training files ({len(corpus)}): code repeats the previous column's in " + ", ".join(f"{r:.0%}" for r in rates) + " of columns (levels 1…)")
    print(f"prior, teacher-forced on them: P(Structure code repeats) {keep:.0%}; perplexity per level " + ", ".join(f"{p:.1f}" for p in perplexity))
    print(f"{a.count} sampled sounds: Structure code repeats in {repeat_rate([g.codes for g in sounds])[0]:.0%} of columns")


if __name__ == "__main__":
    main()
