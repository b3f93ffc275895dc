"""Stage 2, generation: a clear error without a prior, reproducible seeds, greedy and tiny top-p, the KV cache
against the full-recompute reference, exact durations, seamless chunks, continuation, saving, and the dashboard."""
import math, threading
from pathlib import Path

import pytest
import soundfile as sf
import torch

import distill.generate as G
from distill.audio import db_to_normalised, normalised_to_db
from distill.generate import (GenerationCancelled, NoPriorError, SamplingParams, generate, mel_to_waveform, plan_chunks,
                              regenerate_region, sample_codes, save_generated)
from distill.modelfile import load_model
from distill.novelty import CorpusCodes
from distill.prior import PriorTrainParams, train_prior
from test_prior import SMALL_AUDIO, TINY_PRIOR, tiny_vqvae

RATE = SMALL_AUDIO.sample_rate


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    "A tiny RVQ-VAE without a prior, and a copy of it with a tiny prior (window of 16 columns: many chunks)."
    folder = tmp_path_factory.mktemp("generate")
    corpus, bare = tiny_vqvae(folder, 24)
    with_prior = folder / "with_prior.distill"
    with_prior.write_bytes(bare.read_bytes())
    for _ in train_prior(with_prior, corpus, PriorTrainParams(epochs=4, batch_size=8, lr=3e-3, min_steps_per_epoch=4, device="cpu"), **TINY_PRIOR):
        pass
    return corpus, bare, with_prior


@pytest.fixture(scope="module")
def model(setup):
    return load_model(setup[2])


def test_a_model_without_a_prior_says_how_to_train_one(setup):
    bare = load_model(setup[1])
    message = "model.distill has no prior yet: train one with `distill train-prior model.distill DATASET_DIR`"
    with pytest.raises(NoPriorError) as e:
        generate(bare, 1.0)
    assert str(e.value) == message and isinstance(e.value, ValueError)
    with pytest.raises(NoPriorError):
        sample_codes(bare, 4, SamplingParams())


def test_same_seed_same_audio_other_seed_other_audio(model):
    s = SamplingParams(temperature=1.0, top_k=8, top_p=0.95, seed=7)
    a, b = generate(model, 1.5, s), generate(model, 1.5, s)
    assert torch.equal(a.audio, b.audio) and torch.equal(a.codes, b.codes)
    c = generate(model, 1.5, SamplingParams(temperature=1.0, top_k=8, top_p=0.95, seed=8))
    assert not torch.equal(a.codes, c.codes) and not torch.equal(a.audio, c.audio)


def test_greedy_ignores_the_seed_and_tiny_top_p_is_greedy(model):
    greedy = [generate(model, 1.0, SamplingParams(top_k=1, seed=s)) for s in (0, 1, 2)]
    assert all(torch.equal(g.audio, greedy[0].audio) for g in greedy)
    zero_temperature = sample_codes(model, 40, SamplingParams(temperature=0.0, seed=4))
    tiny_p = [sample_codes(model, 40, SamplingParams(top_p=1e-9, seed=s)) for s in (0, 5)]
    top_1 = sample_codes(model, 40, SamplingParams(top_k=1, seed=9))
    assert torch.equal(tiny_p[0], top_1) and torch.equal(tiny_p[1], tiny_p[0])
    assert torch.equal(greedy[0].codes, top_1[:, :greedy[0].codes.shape[-1]])
    assert torch.equal(zero_temperature, tiny_p[0])


@pytest.mark.parametrize("sampling", [SamplingParams(seed=0), SamplingParams(seed=1, temperature=1.3),
                                      SamplingParams(seed=2, top_k=5), SamplingParams(seed=3, top_p=0.8)])
def test_kv_cache_gives_exactly_the_reference_tokens(model, sampling):
    columns = 3 * model.prior.config.window                               # several windows: chunk restarts included
    cached = sample_codes(model, columns, sampling)
    reference = sample_codes(model, columns, sampling, use_cache=False)
    assert torch.equal(cached, reference)
    prompt = cached[:, :5]
    assert torch.equal(sample_codes(model, 20, sampling, prompt_codes=prompt),
                       sample_codes(model, 20, sampling, prompt_codes=prompt, use_cache=False))


@pytest.mark.parametrize("seconds", [0.1, 0.77, 1.0, 2.345, 4.0])
def test_duration_matches_the_request(model, seconds):
    g = generate(model, seconds, SamplingParams(seed=1))
    column = model.seconds_per_column
    assert abs(g.duration - seconds) < column and len(g.audio) == round(seconds * RATE)
    assert 0 <= g.codes.shape[-1] * column - seconds < 2 * column        # no more codes than needed
    assert g.mel.shape[-1] >= len(g.audio) // SMALL_AUDIO.hop_length


def _largest_jumps(audio, seams, radius=16):
    jumps = audio.diff().abs()
    near = torch.zeros_like(jumps, dtype=torch.bool)
    for s in seams: near[max(0, s - radius):s + radius] = True
    return float(jumps[near].max()), float(jumps[~near].max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_jump_at_chunk_seams_larger_than_inside_the_chunks(model, seed):
    g = generate(model, 4.0, SamplingParams(seed=seed, temperature=1.1))
    assert len(g.seams) >= 5                                               # 4 s is several windows of 16 columns
    at_seams, inside = _largest_jumps(g.audio, g.seams)
    assert at_seams <= inside
    # no level jump in the spectrogram either: frame-to-frame change at a seam within what happens inside
    frame_change = g.mel.diff(dim=1).abs().mean(0)
    seam_frames = [s // SMALL_AUDIO.hop_length for s in g.seams]
    assert max(float(frame_change[f - 2:f + 2].max()) for f in seam_frames) <= float(frame_change.max())


def test_long_griffin_lim_blocks_join_without_clicks(model):
    g = generate(model, 3.0, SamplingParams(seed=4), block_seconds=0.6)   # several Griffin-Lim blocks
    assert len(g.audio) == 3 * RATE
    whole = mel_to_waveform(g.mel, SMALL_AUDIO, block_seconds=60)
    assert g.audio.diff().abs().max() <= 1.5 * whole.diff().abs().max()


def test_continuation_from_a_prompt(setup, model):
    corpus = setup[0]
    prompt = sorted(Path(corpus).glob("*.wav"))[5]
    g = generate(model, 1.0, SamplingParams(seed=2), prompt=prompt)
    assert len(g.audio) == RATE
    from distill.audio import load_audio
    audio = load_audio(prompt, RATE)[0]
    same = generate(model, 1.0, SamplingParams(seed=2), prompt=audio)
    assert torch.equal(g.audio, same.audio)
    kept = generate(model, 1.0, SamplingParams(seed=2), prompt=audio, keep_prompt=True)
    prompt_columns = model.encode_audio(audio).shape[-1]
    assert torch.equal(kept.codes[:, prompt_columns:], g.codes)          # the same continuation, with the prompt in front
    with pytest.raises(ValueError, match="mono"):
        generate(model, 1.0, prompt=torch.zeros(2, 1000))


@pytest.mark.parametrize("name,bits,rate,subtype", [("a.wav", "16", None, "PCM_16"), ("b.wav", "24", 44100, "PCM_24"),
                                                    ("c.wav", "float", 22050, "FLOAT"), ("d.flac", "16", 48000, "PCM_16")])
def test_save_generated(model, tmp_path, name, bits, rate, subtype):
    g = generate(model, 1.0, SamplingParams(seed=3))
    g.audio = g.audio * 50                                                 # loud: must still not clip
    out = save_generated(tmp_path / name, g, sample_rate=rate, bits=bits)
    info = sf.info(str(out))
    assert (info.samplerate, info.frames, info.subtype) == (rate or RATE, (rate or RATE) * 1, subtype)
    assert abs(sf.read(str(out))[0]).max() <= 0.99
    assert not list(tmp_path.glob(".*part*"))                             # atomic: no temporary file left behind


def test_regenerate_region_keeps_the_rest(model):
    codes = sample_codes(model, 30, SamplingParams(seed=1))
    edited = regenerate_region(model, codes, 10, 18, SamplingParams(seed=5, temperature=1.5))
    assert torch.equal(edited[:, :10], codes[:, :10]) and torch.equal(edited[:, 18:], codes[:, 18:])
    assert torch.equal(edited[:, 10:18], sample_codes(model, 8, SamplingParams(seed=5, temperature=1.5), prompt_codes=codes[:, :10]))
    with pytest.raises(ValueError, match="not inside"):
        regenerate_region(model, codes, 20, 40, SamplingParams())


def test_regenerate_region_at_some_levels_keeps_the_other_levels(model):
    codes = sample_codes(model, 30, SamplingParams(seed=1))
    hot = SamplingParams(seed=5, temperature=1.5)
    edited = regenerate_region(model, codes, 10, 18, hot, levels=[0])
    assert torch.equal(edited[1:], codes[1:])                              # levels 2 and 3 untouched, everywhere
    assert torch.equal(edited[:, :10], codes[:, :10]) and torch.equal(edited[:, 18:], codes[:, 18:])
    assert not torch.equal(edited[0, 10:18], codes[0, 10:18])              # a hot redraw of 8 cells changes some
    # the kept cells are context: the same draw with other kept values can choose other level-1 codes, and the redraw
    # is what sample_codes gives with those cells given
    given = codes[:, 10:18].clone(); given[0] = -1
    assert torch.equal(edited[:, 10:18], sample_codes(model, 8, hot, codes[:, :10], given=given))
    with pytest.raises(ValueError, match="levels"):
        regenerate_region(model, codes, 10, 18, hot, levels=[3])


def test_given_cells_are_kept_and_free_cells_drawn_as_without_them(model):
    free = torch.full((3, 12), -1)
    drawn = sample_codes(model, 12, SamplingParams(seed=3))
    assert torch.equal(sample_codes(model, 12, SamplingParams(seed=3), given=free), drawn)
    assert torch.equal(sample_codes(model, 12, SamplingParams(seed=3), given=drawn), drawn)
    other = sample_codes(model, 12, SamplingParams(seed=4))
    assert torch.equal(sample_codes(model, 12, SamplingParams(seed=9), given=other, use_cache=False), other)
    with pytest.raises(ValueError, match="given codes"):
        sample_codes(model, 12, SamplingParams(), given=free[:, :5])


def test_cancel_and_progress(model):
    seen = []
    generate(model, 1.0, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, *_ in seen]
    assert stages.index("sampling") < stages.index("decoding") < stages.index("griffin-lim")
    assert ("sampling", seen[stages.index("decoding") - 1][2], seen[stages.index("decoding") - 1][2]) in seen
    cancel = threading.Event(); cancel.set()
    with pytest.raises(GenerationCancelled):
        generate(model, 1.0, cancel=cancel)


def test_sampling_params_are_checked():
    for bad, word in [(dict(temperature=-0.1), "temperature"), (dict(top_k=-1), "top-k"), (dict(top_p=0.0), "top-p"), (dict(top_p=1.5), "top-p")]:
        with pytest.raises(ValueError, match=word):
            SamplingParams(**bad)
    assert SamplingParams.from_dict(SamplingParams(seed=3, top_k=2).to_dict()) == SamplingParams(seed=3, top_k=2)


def test_chunks_cover_the_request_and_fit_the_window(model):
    config = model.prior.config
    for columns, prompt in [(1, 0), (16, 0), (17, 0), (100, 0), (50, 3), (50, 40)]:
        chunks = plan_chunks(columns, prompt, config)
        assert chunks[0].start == 0 and chunks[-1].end == columns
        assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
        assert all(c.keep + c.end - c.start <= config.window and c.end > c.start for c in chunks)


class ScriptedPrior:
    "Stands in for `sample_codes`: each call returns the next of `grids` and notes its prompt's length and its seed."
    def __init__(self, *grids): self.grids, self.calls = list(grids), []
    def __call__(self, model, columns, sampling, prompt_codes=None, progress=None, **kwargs):
        self.calls.append((None if prompt_codes is None else prompt_codes.shape[-1], sampling.seed))
        return self.grids.pop(0)[:, :columns]


@pytest.fixture
def on_off(model, monkeypatch):
    """A stand-in decoder for one-shot tests: a column is silent (-100 dB) where its Structure code is silence's, loud
    (0 dB) where it is `loud`. Returns `grid(*(code, columns))`, a grid of such runs at every level, the Structure code of
    silence, a loud code, and `ended(grid)`: the grid followed by two columns of silence's codes, as a one-shot ends."""
    silent, D = G.silence_codes(model)[0], model.config.downsample
    def decode(model_, codes, progress=None):
        level = torch.where(codes[0] == silent, -100.0, 0.0).repeat_interleave(D)
        return db_to_normalised(level, model.audio).expand(model.audio.n_mels, -1).clone()
    monkeypatch.setattr(G, "code_vectors", lambda model_, codes: codes)
    monkeypatch.setattr(G, "decode_vectors", decode)
    monkeypatch.setattr(G, "limit_loudness", lambda model_, mel: mel)
    def grid(*runs): return torch.stack([torch.cat([torch.full((n,), c) for c, n in runs])] * model.config.rvq_levels)
    def ended(codes): return torch.cat([codes, torch.tensor(G.silence_codes(model))[:, None].expand(-1, 2)], 1)
    return grid, silent, (silent + 1) % model.config.codebook_size, ended


@pytest.mark.parametrize("redraws", [0, 2])
def test_a_one_shot_that_falls_silent_and_starts_again_is_drawn_again_then_ended(model, monkeypatch, on_off, redraws):
    grid, silent, loud, ended = on_off
    # the prior writes a hit, the silence after a file, and a second hit; every redraw starts again after silence
    prior = ScriptedPrior(grid((loud, 4), (silent, 3), (loud, 4), (silent, 2)), *[grid((silent, 3), (loud, 2), (silent, 2))] * redraws)
    monkeypatch.setattr(G, "sample_codes", prior)
    shot = G.generate_one_shot(model, 1.0, SamplingParams(seed=5), redraws=redraws, min_frames=0)
    # each redraw continues the 4 loud columns, with a seed of its own; then the sound ends where it fell silent
    assert prior.calls == [(None, 5)] + [(4, 5 + G.REDRAW_SEED_STEP * k) for k in range(1, redraws + 1)]
    assert torch.equal(shot.codes, ended(grid((loud, 4))))
    assert G.restarts(normalised_to_db(shot.mel, model.audio).amax(0)) == []
    assert shot.mel.shape[-1] == 4 * model.config.downsample and torch.isfinite(shot.audio).all()


def test_a_one_shot_keeps_a_redraw_that_ends_the_sound(model, monkeypatch, on_off):
    grid, silent, loud, ended = on_off
    # the redraw goes on sounding for 3 more columns and then ends: kept, one sound of 7 loud columns
    prior = ScriptedPrior(grid((loud, 4), (silent, 3), (loud, 4), (silent, 2)), grid((loud, 3), (silent, 2)))
    monkeypatch.setattr(G, "sample_codes", prior)
    shot = G.generate_one_shot(model, 1.0, SamplingParams(seed=5), min_frames=0)
    assert prior.calls == [(None, 5), (4, 5 + G.REDRAW_SEED_STEP)]
    assert torch.equal(shot.codes, ended(grid((loud, 7))))
    assert shot.mel.shape[-1] == 7 * model.config.downsample


@pytest.mark.parametrize("min_frames, drawn_on", [(3, True), (1, False), (0, False)])
def test_a_one_shot_shorter_than_the_corpus_allows_is_drawn_on(model, monkeypatch, on_off, min_frames, drawn_on):
    grid, silent, loud, ended = on_off
    D = model.config.downsample
    # the prior writes one loud column, then the silence after a file: a blip, shorter than a corpus whose shortest
    # sound lasts 3 columns; its continuation is drawn again from where it fell silent (2 more loud columns)
    prior = ScriptedPrior(grid((loud, 1), (silent, 2)), grid((loud, 2), (silent, 2)))
    monkeypatch.setattr(G, "sample_codes", prior)
    shot = G.generate_one_shot(model, 1.0, SamplingParams(seed=5), min_frames=min_frames * D)
    loud_columns = 3 if drawn_on else 1
    assert prior.calls == [(None, 5)] + ([(1, 5 + G.REDRAW_SEED_STEP)] if drawn_on else [])
    assert torch.equal(shot.codes, ended(grid((loud, loud_columns))))
    assert shot.mel.shape[-1] == loud_columns * D


def test_the_corpus_shortest_sound_is_its_shortest_training_file(model, monkeypatch, on_off):
    grid, silent, loud, ended = on_off
    D = model.config.downsample
    # stored training codes decoded by the stand-in: files sounding for 5, 2 and 7 columns (the last with a lead-in)
    files = [grid((loud, 5), (silent, 1)), grid((loud, 2)), grid((silent, 2), (loud, 7))]
    forget = lambda: vars(model).pop("_shortest_sound", None)   # it is measured once per model file and kept on it
    forget()
    try:
        monkeypatch.setattr(G, "stored_corpus", lambda model_: CorpusCodes(["a", "b", "c"], files))
        assert G.shortest_sound(model) == 2 * D
        monkeypatch.setattr(G, "stored_corpus", lambda model_: None)
        assert G.shortest_sound(model) == 2 * D   # kept: the training files are not decoded again
        forget()
        assert G.shortest_sound(model) == 0
    finally:
        forget()   # the module's other tests measure the model's own corpus


def test_a_prior_conditioned_on_kinds_writes_the_kind_asked_and_refuses_others(model):
    from distill.generate import generate_sounds, model_kinds
    from distill.prior_model import start_token
    known = model_kinds(model)
    assert set(known) == {"other", "kick", "snare", "closed hat", "bell"} and sum(known.values()) == len(model.prior_training["corpus_files"])
    c = model.prior.config
    first = torch.tensor([[start_token(c, True)]])
    with torch.no_grad():   # the kind reaches the prediction
        assert not torch.allclose(model.prior(first, torch.tensor([c.kind_index("kick")])), model.prior(first))
    s = SamplingParams(seed=2, temperature=1.2)
    assert torch.equal(sample_codes(model, 20, s, kind="snare"), sample_codes(model, 20, s, kind="snare", use_cache=False))
    # guidance pushes the kind's prediction further from any sound's: a change only where a kind is asked for
    guided = SamplingParams(seed=2, temperature=1.2, guidance=3.0)
    assert not torch.equal(sample_codes(model, 20, guided, kind="snare"), sample_codes(model, 20, s, kind="snare"))
    assert torch.equal(sample_codes(model, 20, guided, kind="snare"), sample_codes(model, 20, guided, kind="snare", use_cache=False))
    assert torch.equal(sample_codes(model, 20, guided), sample_codes(model, 20, s))
    with pytest.raises(ValueError, match="guidance must be"): SamplingParams(guidance=-1)
    sounds = list(generate_sounds(model, 2, "one-shot", 1.0, s, kind="kick"))
    assert [g.kind for g in sounds] == ["kick", "kick"] and all(g.to_dict()["kind"] == "kick" for g in sounds)
    with pytest.raises(ValueError, match="unknown kind 'tuba': this model knows other, "):
        next(generate_sounds(model, 1, "one-shot", 1.0, kind="tuba"))
    anything = next(generate_sounds(model, 1, "one-shot", 1.0, s))          # no kind asked: its nearest training file's
    assert anything.kind == dict(zip(model.prior_training["corpus_files"], model.prior_training["corpus_kinds"]))[anything.novelty.nearest]


def test_variations_keep_what_they_are_asked_to_keep(model, setup):
    from distill.generate import generate_like, source_codes, stored_corpus, COPY_REDRAWS
    corpus = stored_corpus(model)
    name = next(n for n in corpus.names if n.startswith("kick"))
    source, _, kind = source_codes(model, Path(name).stem)                   # a training file, by name without its extension
    assert kind == "kick" and torch.equal(source, corpus.codes[corpus.names.index(name)])
    like = list(generate_like(model, name, 2, "structure", 2.0, SamplingParams(seed=3, temperature=1.3)))
    assert [(g.like, g.kind) for g in like] == [(name, "kick")] * 2
    assert [(g.sampling.seed - 3) % 2 for g in like] == [0, 1]            # variation i at seed 3 + i, + 2 per redrawn copy
    assert all(g.novelty.verdict != "copy" or g.sampling.seed >= 3 + 2 * COPY_REDRAWS for g in like)
    for g in like:
        n = min(g.codes.shape[-1], source.shape[-1])
        assert torch.equal(g.codes[0, :n], source[0, :n])                  # the Structure row is the source's
        assert not torch.equal(g.codes[1:, :n], source[1:, :n])            # Timbre and Detail drawn anew
        assert g.novelty is not None
    attack = next(generate_like(model, name, 1, "attack", 2.0, SamplingParams(seed=3)))
    n = min(math.ceil(0.1 / model.seconds_per_column), attack.codes.shape[-1])   # (a tiny model's kick may end sooner)
    assert torch.equal(attack.codes[:, :n], source[:, :n])                 # its first 0.1 s, every level
    recording = next(f for f in sorted(setup[0].glob("snare_*.wav")))       # any recording, by its path
    assert next(generate_like(model, recording, 1, duration=1.0)).kind == "snare"
    with pytest.raises(FileNotFoundError, match="no training file of with_prior is called that"):
        next(generate_like(model, "nothing.wav", 1))
    with pytest.raises(ValueError, match="keep must be one of structure, attack"):
        next(generate_like(model, name, 1, "everything"))


def test_a_variation_that_comes_out_a_copy_is_drawn_again(model, monkeypatch):
    import distill.generate as gen
    from types import SimpleNamespace
    name = next(n for n in gen.stored_corpus(model).names if n.startswith("kick"))
    verdicts = iter(["copy", "copy", "variation"] + ["copy"] * (gen.COPY_REDRAWS + 1))
    monkeypatch.setattr(gen, "novelty_judge", lambda m: lambda codes: SimpleNamespace(verdict=next(verdicts)))
    first, second = gen.generate_like(model, name, 2, duration=1.0, sampling=SamplingParams(seed=3))
    assert (first.novelty.verdict, first.sampling.seed) == ("variation", 3 + 2 * 2)   # the third draw: seeds past the others'
    # a source the prior can only copy: after its redraws the last draw is given, and says what it is
    assert (second.novelty.verdict, second.sampling.seed) == ("copy", 4 + gen.COPY_REDRAWS * 2)
