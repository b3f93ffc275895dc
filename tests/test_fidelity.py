"""Reconstruction that keeps level and stays finite: bounded decoder, finite inversion, no NaN files, level
normalisation, silence after a sound. Figures on real recordings live in bench/reconstruction_quality.py."""
from functools import partial

import numpy as np
import pytest
import soundfile as sf
import torch

from distill import audio as audio_module
from distill.audio import AudioFileError, AudioParams, audio_to_mel, load_audio, mel_to_audio, write_audio, limit_peaks, level_correction_db
from distill.codes import CodeGrid, encode_audio, grid_to_audio, load_grid
from distill.modelfile import load_model

RATE = 44100


@pytest.fixture(scope="module")
def model(tiny_model):
    return load_model(tiny_model)


def test_decoder_output_stays_in_range_for_any_codes(model):
    torch.manual_seed(0)
    c = model.config
    codes = torch.randint(0, c.codebook_size, (4, c.rvq_levels, 30))
    with torch.no_grad():
        mel = model.vqvae.decode(codes)
        wild = model.vqvae.decode_embeddings(torch.randn(c.rvq_levels, 2, 30, c.codebook_dim) * 1e4)   # absurd vectors
    for m in (mel, wild):
        assert torch.isfinite(m).all() and m.min() >= c.out_min and m.max() <= c.out_max


def test_random_codes_decode_to_finite_audio(model):
    torch.manual_seed(1)
    c = model.config
    grid = CodeGrid(torch.randint(0, c.codebook_size, (c.rvq_levels, 80)), model.name, model.identity, RATE,
                    model.seconds_per_column, c.codebook_size)
    audio = grid_to_audio(model, grid)
    assert torch.isfinite(audio).all() and len(audio) == 80 * c.downsample * model.audio.hop_length


def test_extreme_spectrograms_invert_to_finite_audio():
    p = AudioParams()
    for mel in (torch.full((p.n_mels, 20), 1e9), torch.full((p.n_mels, 20), -1e9), torch.full((p.n_mels, 20), float("nan")),
                torch.full((p.n_mels, 20), float("inf"))):
        assert torch.isfinite(mel_to_audio(mel, p)).all()


def test_a_nan_never_reaches_a_file(tmp_path):
    good = 0.3 * torch.sin(torch.arange(4410) / 10.0)
    write_audio(tmp_path / "out.wav", good, RATE)
    for bad in (float("nan"), float("inf"), -float("inf")):
        broken = good.clone(); broken[17] = bad
        with pytest.raises(AudioFileError, match="out.wav: 1 of 4410 samples are not finite"):
            write_audio(tmp_path / "out.wav", broken, RATE)
    back, _ = load_audio(tmp_path / "out.wav")
    assert np.allclose(back.numpy(), good.numpy(), atol=1e-4)             # the earlier file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]      # and nothing half-written is left


def test_the_limiter_keeps_the_level_of_a_file_with_one_overshoot(tmp_path):
    # Griffin-Lim phases can push a few samples over full scale; the file must not get quieter as a whole
    x = 0.5 * torch.sin(2 * np.pi * 100 * torch.arange(RATE) / RATE)
    x[RATE // 3] = 2.5
    write_audio(tmp_path / "hot.wav", x, RATE, "float")
    y, _ = sf.read(tmp_path / "hot.wav")
    assert np.abs(y).max() <= 0.9891
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))))
    assert abs(20 * np.log10(rms(y) / rms(x.numpy()))) < 0.05


def test_a_recording_comes_back_at_its_own_level(model, tmp_path):
    # the model hears every recording at one level and gives each its own back: a copy 20 dB down decodes 20 dB down
    clip, _ = load_audio(_first_demo_file(tmp_path), RATE)
    loud, quiet = model.reconstruct(clip), model.reconstruct(clip * 0.1)
    rms = lambda v: float(v.pow(2).mean().sqrt())
    assert abs(20 * np.log10(rms(quiet) / rms(loud)) + 20) < 0.5
    assert torch.equal(model.encode_audio(clip), model.encode_audio(clip * 0.1))   # the same codes: level is one number
    grid = encode_audio(model, clip * 0.1, source="quiet")
    assert grid.gain_db == pytest.approx(encode_audio(model, clip).gain_db + 20, abs=1e-3)
    grid.save(tmp_path / "quiet.codes.json")
    again = load_grid(tmp_path / "quiet.codes.json", model)
    assert again.gain_db == pytest.approx(grid.gain_db)
    assert torch.allclose(grid_to_audio(model, again), grid_to_audio(model, encode_audio(model, clip)) * 0.1, atol=1e-5)


def test_a_decoding_is_brought_to_the_recordings_energy(model, tmp_path, monkeypatch):
    "However loud the model decodes a sound, it comes back at the recording's level; a code file carries the difference."
    clip, _ = load_audio(_first_demo_file(tmp_path), RATE)
    db = lambda v: 20 * float(torch.log10(v.pow(2).mean().sqrt()))
    plain, matched = model.reconstruct(clip, match_level=False), model.reconstruct(clip)
    shortfall = db(clip) - db(plain)   # this seconds-trained model decodes the kick over 30 dB quiet (seeds 0–3: 36–38 dB)
    assert shortfall > 3 and db(matched) - db(plain) == pytest.approx(np.clip(shortfall, -30, 30), abs=1.0)   # 30 dB at most
    grid = encode_audio(model, clip)
    assert db(grid_to_audio(model, grid)[:len(clip)]) == pytest.approx(db(matched), abs=0.1)
    # both paths measure the same difference: what reconstruct adds is what the code file's gain takes off less
    assert db(matched) - db(plain) == pytest.approx(20 * np.log10(model.gain(clip)) - grid.gain_db, abs=0.05)
    # without the limit, the decoding comes back at the recording's level (within what Griffin-Lim changes)
    unlimited = partial(level_correction_db, limit_db=60.0)
    monkeypatch.setattr(audio_module, "level_correction_db", unlimited)   # `level_corrections`, which both paths call, looks it up there
    assert abs(db(model.reconstruct(clip)) - db(clip)) < 1.0
    assert abs(db(grid_to_audio(model, encode_audio(model, clip))[:len(clip)]) - db(clip)) < 1.0


def test_a_reconstructed_hit_keeps_the_silence_before_it(model, tmp_path):
    "What a recording had as silence before a hit, its reconstruction has too: the decoder smears the hit over its code column."
    clip, _ = load_audio(_first_demo_file(tmp_path), RATE)
    lead = int(0.1 * RATE)                                   # 100 ms of digital silence, then the kick
    out = model.reconstruct(torch.cat([torch.zeros(lead), clip]))
    heard_before = model.decode_mel(model.encode_mel(model.mel(torch.cat([torch.zeros(lead), clip]))))[:, :4]
    assert float(heard_before.max()) > -1.0                  # the decoding does put sound there (the test can fail) …
    assert float(out[: lead - int(0.002 * RATE)].abs().max()) == 0.0   # … the reconstruction does not, up to 2 ms before the hit
    assert float(out[lead: lead + int(0.05 * RATE)].abs().max()) > 0.0


def test_a_training_preview_keeps_the_silence_before_its_hit():
    "The dashboard's preview during training plays a decoded chunk as `reconstruct` would: silent where the chunk was."
    from distill.train import Preview
    p = AudioParams()
    hit = torch.cat([torch.zeros(4410), torch.randn(20000, generator=torch.Generator().manual_seed(0)) * torch.exp(-torch.arange(20000) / 3000)])
    original = audio_to_mel(hit, p)
    smeared = original.clone(); smeared[:, :8] = original[:, 8:9]      # a decoder's smear into the silence before the hit
    assert float(mel_to_audio(smeared, p)[: 4410 - 200].abs().max()) > 0.0    # heard as it is, the smear fades in early
    original_sound, reconstruction = Preview("vqvae", 1, original, smeared).sounds(p)
    assert float(reconstruction[: 4410 - 200].abs().max()) == 0.0
    assert float(reconstruction[4410: 4410 + 2205].abs().max()) > 0.0
    assert torch.equal(original_sound, mel_to_audio(original, p))


def _first_demo_file(folder):
    from distill.data import synth_demo_corpus
    return synth_demo_corpus(folder / "demo", n_files=1, seed=3)[0]   # a kick
