"""What the codes cost: the decoder's mel error from the codes against from the encoder's unquantised output.

For every file of each folder, the model's own log-mel (at the level the model hears it) goes through the encoder, then
to the decoder twice: once through the residual quantiser (what a code file holds) and once without it (the encoder's
output, through the quantiser's projections only). Prints per folder the mean RMS error in dB over the bins within
60 dB of each file's loudest, for both. If the two agree, more code levels or entries cannot help those files: the error
lies in the encoder and decoder themselves.

    python bench/quantisation_cost.py --model M.distill DIR [DIR ...] [--threads 2]
"""
import argparse
from pathlib import Path

import torch
from einops import rearrange

from distill.audio import load_audio, normalised_to_db
from distill.modelfile import load_model
from reconstruction_quality import audio_files   # the same files that bench measures


@torch.no_grad()
def mel_errors(model, audio: torch.Tensor, within_db: float = 60.0) -> tuple[float, float]:
    "RMS dB error of the decoding (from codes, from the unquantised latent) over the bins within `within_db` of the peak."
    vqvae, p = model.vqvae.eval(), model.audio
    heard = model.mel(audio * model.gain(audio))[None]
    padded, frames = vqvae._pad(heard)
    latent = rearrange(vqvae.encoder(padded), 'b d n -> b n d')
    quantised, _, _ = vqvae.rvq(latent)
    unquantised = vqvae.rvq.project_out(vqvae.rvq.project_in(latent))
    truth = normalised_to_db(heard, p)
    bins = truth >= truth.max() - within_db
    def error(z): return float(((normalised_to_db(vqvae.decoder(rearrange(z, 'b n d -> b d n'))[..., :frames], p) - truth)[bins] ** 2).mean().sqrt())
    return error(quantised), error(unquantised)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True); ap.add_argument("folders", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    for folder in map(Path, a.folders):
        rows = []
        for f in audio_files(folder):
            audio, _ = load_audio(f, model.audio.sample_rate)
            if len(audio) >= model.audio.n_fft: rows.append(mel_errors(model, audio))
        codes, latent = (sum(r[i] for r in rows) / max(len(rows), 1) for i in (0, 1))
        print(f"{folder.name[:30]:<30} {len(rows):4d} files   mel error from the codes {codes:5.2f} dB   "
              f"from the unquantised latent {latent:5.2f} dB", flush=True)


if __name__ == "__main__":
    main()
