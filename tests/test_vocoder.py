"""Spectrogram → sound after issue 26: Griffin-Lim with sound only where the spectrogram allows it (silent frames, and
before an attack out of silence up to its estimated start), then `keep_silence` — hits that start out of silence keep
that silence, and sound otherwise as before. On synthesised audio, next to Griffin-Lim alone (the path before)."""
import numpy as np
import pytest
import torch

from distill.audio import AudioParams, audio_to_mel, fit_length, griffin_lim, keep_silence, mel_to_audio, mel_to_audio_pieces

P = AudioParams()


def hit(seed: int, silence: float = 0.05, seconds: float = 0.4) -> torch.Tensor:
    "A synthesised one-shot (a decaying noise burst over a falling tone) after `silence` seconds of digital silence."
    g = torch.Generator().manual_seed(seed)
    n = round(seconds * P.sample_rate); t = torch.arange(n) / P.sample_rate
    f0 = 60 + 200 * torch.rand(1, generator=g)
    body = torch.sin(2 * np.pi * torch.cumsum(f0 * (1 + 2 * torch.exp(-t / 0.02)), 0) / P.sample_rate) * torch.exp(-t / 0.15)
    noise = torch.randn(n, generator=g) * torch.exp(-t / (0.01 + 0.05 * torch.rand(1, generator=g)))
    return torch.cat([torch.zeros(round(silence * P.sample_rate)), 0.4 * body + 0.3 * noise])


def level_db(x: torch.Tensor) -> float:
    return 10 * np.log10(float(x.pow(2).mean()) + 1e-20)


def spectral_distance_db(a: torch.Tensor, b: torch.Tensor) -> float:
    "Mean log-spectral distance (dB) at a 1024-sample STFT, floored 80 dB under `a`'s loudest bin."
    A, B = (torch.stft(v, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs() for v in (a, b))
    floor = A.max() * 1e-4
    return float((20 * (A.clamp_min(floor).log10() - B.clamp_min(floor).log10())).pow(2).mean(0).sqrt().mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hits_out_of_silence_keep_their_silence(seed):
    "After 50 ms of silence: nothing until ~2 ms before the attack (Griffin-Lim alone: −30 dB there), a closer spectrum, the same level."
    x = hit(seed); onset = round(0.05 * P.sample_rate); ms = P.sample_rate // 1000
    mel = audio_to_mel(x, P)
    made, bare = (fit_length(y, len(x)) for y in (mel_to_audio(mel, P), griffin_lim(mel, P)))
    assert float(bare[: onset - 20 * ms].abs().max()) > 0                      # Griffin-Lim alone leaves sound there …
    assert float(made[: onset - 4 * ms].abs().max()) == 0.0                    # … none here: silence, and no pre-echo
    assert float(made[onset:onset + 5 * ms].abs().max()) > 0                   # the attack is there
    assert spectral_distance_db(x, made) < spectral_distance_db(x, bare)       # its energy went after the attack, not before
    assert abs(level_db(made) - level_db(bare)) < 0.2


def test_sound_without_silence_is_griffin_lim_alone():
    x = 0.1 * torch.randn(P.sample_rate // 2, generator=torch.Generator().manual_seed(5))
    mel = audio_to_mel(x, P)
    assert torch.equal(mel_to_audio(mel, P), griffin_lim(mel, P))


def test_silence_kept_between_hits_in_long_spectrograms_in_pieces():
    "Piece by piece (as long files and generation go), the silence between hits is kept too."
    x = torch.cat([hit(s, silence=0.1, seconds=0.3) for s in range(6)])
    mel = audio_to_mel(x, P); frames = mel.shape[-1]
    pieces = torch.cat(list(mel_to_audio_pieces(lambda a, b: mel[:, a:b], frames, P, piece_frames=96, overlap=32)))
    assert len(pieces) == frames * P.hop_length
    hit_len, ms = round(0.4 * P.sample_rate), P.sample_rate // 1000
    bare = griffin_lim(mel, P)
    for i in range(1, 6):   # the 100 ms of silence before each hit: its middle 60 ms silent, where Griffin-Lim alone is not
        gap = slice(i * hit_len + 20 * ms, i * hit_len + 80 * ms)
        assert float(pieces[gap].abs().max()) == 0.0 and float(bare[gap].abs().max()) > 0


def test_keep_silence_any_leading_shape():
    x = torch.stack([hit(0), hit(1)])
    mel = audio_to_mel(x, P)
    audio = griffin_lim(mel, P)
    kept = keep_silence(audio, mel, P)
    assert kept.shape == audio.shape
    assert torch.equal(kept[1], keep_silence(audio[1], mel[1], P))
