"""Generation speed: tokens/s of the prior with and without the key/value cache at full window, and the real-time
factor of generating 10 s of audio, split into prior sampling, decoding and Griffin-Lim.

    python bench/generate_speed.py [--threads 2] [--files 100] [--seconds 10]

Weights are random (speed does not depend on training); shapes are the defaults a 100-file corpus gets:
the default RVQ-VAE and audio settings, and `auto_prior_config(files, ...)` for the prior.
"""
import argparse, json, time

import torch

from distill.audio import AudioParams, mel_to_audio
from distill.generate import SamplingParams, _CachedSteps, _RecomputeSteps, choose_code, generate
from distill.model import VQVAE, VQVAEConfig, auto_codebook_size
from distill.modelfile import DistillModel
from distill.prior import Prior, auto_prior_config, start_token


def tokens_per_second(prior: Prior, steps_class, tokens: int, repeats: int = 1) -> float:
    "Sampling speed over the last `tokens` positions of a full window (the context is as long as it gets)."
    c = prior.config
    context = torch.randint(0, c.codebook_size, (prior.max_tokens - tokens,)).tolist()
    sampling, best = SamplingParams(seed=0), float("inf")
    for _ in range(repeats):
        generator = torch.Generator().manual_seed(0)
        steps = steps_class(prior)
        start = time.perf_counter()
        h = steps.start([start_token(c, True)] + context)
        for j in range(tokens):
            level = (len(context) + j) % c.levels
            token = level * c.codebook_size + choose_code(prior.level_logits(h, level), sampling, generator)
            if j + 1 < tokens: h = steps.push(token)
        best = min(best, time.perf_counter() - start)
    return tokens / best


def timed_generate(model: DistillModel, seconds: float) -> dict:
    "Wall time of each stage of `generate`, read from its progress callbacks."
    marks = {}
    start = time.perf_counter()
    def progress(stage, done, total): marks[stage] = time.perf_counter()
    g = generate(model, seconds, SamplingParams(seed=0), progress=progress)
    end = time.perf_counter()
    sampling = marks["sampling"] - start
    decoding = marks["decoding"] - marks["sampling"]
    griffin_lim = end - marks["decoding"]
    return dict(audio_seconds=g.duration, columns=g.codes.shape[-1], tokens=g.codes.numel(), chunks=len(g.seams) + 1,
                sampling_s=sampling, decoding_s=decoding, griffin_lim_s=griffin_lim, total_s=end - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--files", type=int, default=100, help="corpus size the model shapes are chosen for")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tokens", type=int, default=48, help="tokens timed at the end of a full window")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    audio = AudioParams()
    vq_config = VQVAEConfig(n_mels=audio.n_mels, codebook_size=auto_codebook_size(args.files))
    prior_config = auto_prior_config(args.files, vq_config.rvq_levels, vq_config.codebook_size)
    with torch.no_grad():
        model = DistillModel(VQVAE(vq_config).eval(), audio, prior=Prior(prior_config).eval())

    with torch.inference_mode():
        cached = tokens_per_second(model.prior, _CachedSteps, args.tokens, repeats=3)
        recompute = tokens_per_second(model.prior, _RecomputeSteps, args.tokens)
        whole_window = tokens_per_second(model.prior, _CachedSteps, model.prior.max_tokens - 1)
    generate(model, 1.0)                                  # warm-up: caches the mel filter banks, first-call overheads
    run = timed_generate(model, args.seconds)
    # the two halves of mel inversion, to show where Griffin-Lim time goes
    mel = torch.rand(audio.n_mels, round(args.seconds * audio.frames_per_second)) * 2 - 1
    t0 = time.perf_counter(); mel_to_audio(mel, audio, n_iter=1); one_iter = time.perf_counter() - t0
    t0 = time.perf_counter(); mel_to_audio(mel, audio); full = time.perf_counter() - t0
    per_iter = (full - one_iter) / max(audio.griffin_lim_iters - 1, 1)
    inverse_mel = one_iter - per_iter

    result = dict(threads=args.threads, prior=json.loads(prior_config.to_json()),
                  prior_parameters=sum(p.numel() for p in model.prior.parameters()),
                  window_tokens=model.prior.max_tokens, cached_tokens_per_s=cached, recompute_tokens_per_s=recompute,
                  cache_speedup=cached / recompute, cached_tokens_per_s_whole_window=whole_window,
                  inverse_mel_s=inverse_mel, griffin_lim_iterations_s=full - inverse_mel, **run,
                  real_time_factor=run["total_s"] / run["audio_seconds"])
    if args.json: return print(json.dumps(result, indent=1))
    c = prior_config
    print(f"prior: d_model {c.d_model}, {c.n_layers} layers, window {c.window} columns = {model.prior.max_tokens} tokens, "
          f"{result['prior_parameters']:,} parameters; {args.threads} threads")
    print(f"tokens/s at full window: cached {cached:,.0f}, recompute {recompute:,.1f} → cache {cached / recompute:.1f}× faster "
          f"(cached over a whole window from empty: {whole_window:,.0f} tokens/s)")
    print(f"{run['audio_seconds']:.1f} s of audio ({run['tokens']} tokens, {run['chunks']} chunks): "
          f"sampling {run['sampling_s']:.2f} s + decoding {run['decoding_s']:.2f} s + Griffin-Lim {run['griffin_lim_s']:.2f} s "
          f"= {run['total_s']:.2f} s, real-time factor {result['real_time_factor']:.2f}")
    print(f"  mel inversion of {args.seconds:g} s: inverse mel scale {inverse_mel:.2f} s, "
          f"{audio.griffin_lim_iters} Griffin-Lim iterations {full - inverse_mel:.2f} s")


if __name__ == "__main__":
    main()
