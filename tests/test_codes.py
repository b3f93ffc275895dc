"""Code grids: streaming encode/decode, edits with undo/redo, blends, swaps, code files, auditions."""
import json, math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from distill.audio import AudioParams, load_audio, write_audio, audio_to_mel, num_frames
from distill.codes import (CodeError, CodeGrid, encode_audio, encode_audio_file, decode_grid, grid_to_audio, load_grid,
                           audition_code, solo_preview, neutral_codes, ranked_entries, context_columns, model_codebooks, grid_colours)
from distill.data import synth_demo_corpus
from distill.modelfile import load_model
from distill.train import TrainParams, train_vqvae

TINY = dict(hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1)
RATE = 44100


def _train(folder, path, seed=0, epochs=6):
    # a few seconds of training: enough for level-1 entries to sound different from each other
    params = TrainParams(epochs=epochs, batch_size=8, min_steps_per_epoch=8, augment=False, seed=seed)
    for _ in train_vqvae(folder, path, params=params, **TINY): pass
    return load_model(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("codes")
    files = synth_demo_corpus(root / "demo", n_files=6)
    model = _train(root / "demo", root / "tiny.distill")
    clip = torch.cat([load_audio(f, RATE)[0] for f in files])  # ~6.5 s of one-shots in a row
    write_audio(root / "clip.wav", clip, RATE, bits="float")
    return dict(root=root, files=files, model=model, clip=clip, clip_path=root / "clip.wav")


@pytest.fixture(scope="module")
def grid(setup):
    return encode_audio_file(setup["model"], setup["clip_path"])


@pytest.fixture(scope="module")
def short(setup):
    "A grid of another, shorter recording (the pad, ~1.8 s)."
    return encode_audio(setup["model"], load_audio(setup["files"][5], RATE)[0], source="pad")


def _columns(samples, model):
    return math.ceil(num_frames(samples, model.audio) / model.config.downsample)


# ---------------------------------------------------------------- encode / decode

def test_encode_decode_length_within_one_column(setup, grid):
    model, clip = setup["model"], setup["clip"]
    audio = grid_to_audio(model, grid)
    column = round(grid.seconds_per_column * RATE)
    assert len(audio) == grid.columns * column
    assert 0 < len(audio) - len(clip) <= column
    assert abs(grid.duration - len(clip) / RATE) <= grid.seconds_per_column
    assert audio.abs().max() > 0.01


def test_columns_scale_with_duration(setup):
    model, clip = setup["model"], setup["clip"]
    for seconds in (0.5, 1.0, 2.0, 4.0):
        n = int(seconds * RATE)
        g = encode_audio(model, clip[:n])
        assert g.columns == _columns(n, model)
        assert abs(g.columns * g.seconds_per_column - seconds) <= g.seconds_per_column
        assert g.times[-1] == pytest.approx((g.columns - 1) * g.seconds_per_column)


def test_pieces_equal_the_whole_file(setup, grid):
    model, clip = setup["model"], setup["clip"]
    whole = model.encode_audio(clip)
    assert torch.equal(grid.indices, whole)
    assert torch.equal(encode_audio_file(model, setup["clip_path"], piece_columns=9).indices, whole)
    mel = decode_grid(model, grid, piece_columns=11)
    torch.testing.assert_close(mel, model.decode_mel(whole), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("rate,channels", [(22050, 1), (48000, 2), (44100, 2)])
def test_other_rates_and_stereo_encode(setup, tmp_path, rate, channels):
    model = setup["model"]
    t = np.arange(int(2.3 * rate)) / rate
    data = np.stack([0.5 * np.sin(2 * np.pi * 330 * t) * np.exp(-2 * (t % 0.6))] * channels, 1)
    data[:, -1] *= 0.5  # channels differ
    path = tmp_path / f"x_{rate}_{channels}.wav"
    sf.write(str(path), data.astype(np.float32), rate)
    g = encode_audio_file(model, path, piece_columns=13)  # several pieces, each resampled on its own
    expected, _ = load_audio(path, RATE)
    assert g.columns == _columns(len(expected), model) and g.source == path.name
    # streaming (span-by-span resampling and mono mix) gives what the whole-file path gives
    assert (g.indices == model.encode_audio(expected)).float().mean() >= 0.99


def test_unreadable_and_tiny_files_are_refused(setup, tmp_path):
    model = setup["model"]
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ValueError, match="junk.wav: not a readable audio file"): encode_audio_file(model, tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="missing.wav: file not found"): encode_audio_file(model, tmp_path / "missing.wav")
    sf.write(str(tmp_path / "click.wav"), np.ones(100, np.float32), RATE)
    with pytest.raises(CodeError, match="too short to encode"): encode_audio_file(model, tmp_path / "click.wav")
    with pytest.raises(CodeError, match="mono audio"): encode_audio(model, torch.zeros(2, 1000))


def test_receptive_field_is_measured(setup):
    enc, dec = context_columns(setup["model"].vqvae)
    assert 1 <= enc < 32 and 1 <= dec < 32


# ---------------------------------------------------------------- edits, undo, redo

def _changed(a: torch.Tensor, b: torch.Tensor) -> set:
    return {tuple(x) for x in (a != b).nonzero().tolist()}


def test_set_cell_changes_one_cell_and_undo_redo(grid):
    g = grid.copy(keep_history=False)
    before = g.indices.clone()
    new = (int(before[1, 7]) + 1) % g.codebook_size
    g.set_cell(1, 7, new)
    assert _changed(before, g.indices) == {(1, 7)} and g.indices[1, 7] == new
    assert g.can_undo and not g.can_redo
    assert g.undo() == f"set level 2 (Timbre) column 7 to {new}"
    assert torch.equal(g.indices, before) and g.can_redo
    g.redo()
    assert _changed(before, g.indices) == {(1, 7)}


def test_fill_region_changes_exactly_the_region(grid):
    g = grid.copy(keep_history=False)
    before = g.indices.clone()
    g.fill_region([0, 2], 5, 9, 3)
    assert _changed(before, g.indices) <= {(l, c) for l in (0, 2) for c in range(5, 9)}
    assert (g.indices[[0, 2], 5:9] == 3).all() and torch.equal(g.indices[1], before[1])


def test_undo_restores_exactly_through_a_sequence(grid, short):
    g = grid.copy(keep_history=False)
    states = [g.indices.clone()]
    g.set_cell(0, 0, 1); states.append(g.indices.clone())
    g.swap_region(short, [1, 2], 3, 12, other_start=0); states.append(g.indices.clone())
    g.blend(short, [0.3, 0.6, 1.0]); states.append(g.indices.clone()); blended = g.embeddings.clone()
    g.fill_region(None, 0, 2, 4); states.append(g.indices.clone())
    assert len(g.history.labels) == 4
    for expected in reversed(states[:-1]):
        g.undo()
        assert torch.equal(g.indices, expected)
    assert g.embeddings is None and not g.can_undo
    with pytest.raises(CodeError, match="nothing to undo"): g.undo()
    for expected in states[1:]:
        g.redo()
        assert torch.equal(g.indices, expected)
    g.undo()
    assert torch.equal(g.embeddings.nan_to_num(), blended.nan_to_num())
    g.set_cell(2, 2, 2)  # a new edit forgets what was undone
    assert not g.can_redo


@pytest.mark.parametrize("edit,message", [
    (lambda g, o: g.set_cell(0, 0, 16), "code 16 is outside the codebook"),
    (lambda g, o: g.set_cell(0, 0, -1), "outside the codebook"),
    (lambda g, o: g.set_cell(3, 0, 1), "level 3 does not exist"),
    (lambda g, o: g.set_cell(0, 10_000, 1), "column 10000 is outside"),
    (lambda g, o: g.set_cell(0, 1.5, 1), "must be a whole number"),
    (lambda g, o: g.set_cell(True, 1, 1), "must be a whole number"),
    (lambda g, o: g.fill_region([0], 9, 5, 1), "not a region inside"),
    (lambda g, o: g.fill_region([], 0, 5, 1), "at least one level"),
    (lambda g, o: g.swap_region(o, [0], 0, o.columns + 1), "has no"),
    (lambda g, o: g.swap_region(o, [0], 0, 5, other_start=o.columns - 2), "has no 5 columns from column"),
    (lambda g, o: g.blend(o, 1.5), "between 0 and 1"),
    (lambda g, o: g.blend(o, [0.5, 0.5]), "one per level"),
    (lambda g, o: g.redo(), "nothing to redo"),
])
def test_invalid_edits_raise_and_leave_the_grid_unchanged(grid, short, edit, message):
    g = grid.copy(keep_history=False)
    g.blend(short, [0.5, 0, 0])  # also with blended cells present
    indices, embeddings, labels = g.indices.clone(), g.embeddings.clone(), g.history.labels
    with pytest.raises(CodeError, match=message): edit(g, short)
    assert torch.equal(g.indices, indices) and torch.equal(g.embeddings.nan_to_num(), embeddings.nan_to_num())
    assert g.history.labels == labels


def test_grids_of_another_model_cannot_be_combined(setup, grid, tmp_path):
    other_model = _train(setup["root"] / "demo", tmp_path / "other.distill", seed=1, epochs=1)
    foreign = encode_audio(other_model, setup["clip"][:RATE], source="foreign")
    g = grid.copy(keep_history=False)
    for edit in (lambda: g.swap_region(foreign, None, 0, 3), lambda: g.blend(foreign, 0.5)):
        with pytest.raises(CodeError, match="only grids of the same model can be combined"): edit()
    assert not g.can_undo
    with pytest.raises(CodeError, match="use the model that made it"): decode_grid(other_model, g)


# ---------------------------------------------------------------- swap (CODE-05)

def test_swap_between_grids_of_different_length(grid, short):
    assert short.columns < grid.columns
    g = grid.copy(keep_history=False)
    before = g.indices.clone()
    g.swap_region(short, [0], 50, 50 + short.columns, other_start=0)  # all of the short grid into the long one
    assert torch.equal(g.indices[0, 50:50 + short.columns], short.indices[0])
    assert _changed(before, g.indices) <= {(0, c) for c in range(50, 50 + short.columns)}
    s = short.copy(keep_history=False)
    s_before = s.indices.clone()
    s.swap_region(grid, [1, 2], 0, s.columns, other_start=grid.columns - s.columns)  # the long grid's end into the short one
    assert torch.equal(s.indices[1:], grid.indices[1:, -s.columns:]) and torch.equal(s.indices[0], s_before[0])
    assert s.columns == short.columns and torch.equal(short.indices, s_before)  # donors are left as they were


# ---------------------------------------------------------------- blend (CODE-06)

def test_blend_ends_decode_to_a_and_b(setup, grid):
    model = setup["model"]
    b = encode_audio(model, setup["clip"].flip(0), source="reversed")
    a = grid.copy(keep_history=False)
    a.blend(b, 0.0)
    assert torch.equal(decode_grid(model, a), decode_grid(model, grid)) and a.embeddings is None
    a.blend(b, 1.0)
    assert torch.equal(a.indices, b.indices) and torch.equal(decode_grid(model, a), decode_grid(model, b))


def test_blend_in_between_per_level(setup, grid):
    model = setup["model"]
    b = encode_audio(model, setup["clip"].flip(0), source="reversed")
    a = grid.copy(keep_history=False)
    a.blend(b, [0.5, 0.0, 0.0])
    assert torch.equal(a.indices[1:], grid.indices[1:])
    books = model_codebooks(model)
    differs = grid.indices[0] != b.indices[0]
    assert torch.equal(a.blended[0], differs) and not a.blended[1:].any()
    expected = 0.5 * (books[0][grid.indices[0]] + books[0][b.indices[0]])
    torch.testing.assert_close(a.embeddings[0][differs], expected[differs])
    mel_a, mel_b, mel_mix = decode_grid(model, grid), decode_grid(model, b), decode_grid(model, a)
    assert not torch.equal(mel_mix, mel_a) and not torch.equal(mel_mix, mel_b)
    # swapping a blended region into another grid carries the blended vectors along
    c = grid.copy(keep_history=False)
    c.swap_region(a, [0], 0, 10)
    assert torch.equal(c.blended[0, :10], a.blended[0, :10])


def test_blend_with_a_shorter_grid_covers_the_common_columns(grid, short):
    a = grid.copy(keep_history=False)
    a.blend(short, 1.0)
    assert torch.equal(a.indices[:, :short.columns], short.indices)
    assert torch.equal(a.indices[:, short.columns:], grid.indices[:, short.columns:])


# ---------------------------------------------------------------- prior re-generation

def test_regenerate_region_needs_a_prior(setup, grid):
    from distill.generate import NoPriorError
    g = grid.copy(keep_history=False)
    with pytest.raises(NoPriorError, match="no prior"): g.regenerate_region(setup["model"], 3, 9)
    assert torch.equal(g.indices, grid.indices) and not g.can_undo


def test_regenerate_region_changes_only_the_region(setup, grid, monkeypatch):
    import distill.generate as generate
    calls = []
    def fake(model, codes, start, end, sampling, levels=None):
        calls.append((start, end, sampling, levels))
        return torch.full_like(codes, 7)  # even if a prior returned more, only the chosen cells may change
    monkeypatch.setattr(generate, "regenerate_region", fake)
    monkeypatch.setattr(generate, "require_prior", lambda model: object())
    g = grid.copy(keep_history=False)
    g.regenerate_region(setup["model"], 3, 9)
    assert (g.indices[:, 3:9] == 7).all() and _changed(grid.indices, g.indices) <= {(l, c) for l in range(3) for c in range(3, 9)}
    assert calls[0][:2] == (3, 9) and calls[0][3] == [0, 1, 2]
    g.undo()
    assert torch.equal(g.indices, grid.indices)
    # only level 1 (Structure) chosen: the other levels of the region keep their codes, whatever the prior returns
    g.regenerate_region(setup["model"], 3, 9, levels=[0])
    assert calls[-1][3] == [0] and _changed(grid.indices, g.indices) <= {(0, c) for c in range(3, 9)}
    assert (g.indices[0, 3:9] == 7).all() and torch.equal(g.indices[1:], grid.indices[1:])
    assert g.history.labels[-1] == "re-generate level 1 (Structure) columns 3–8"
    with pytest.raises(CodeError, match="level 3 does not exist"): g.regenerate_region(setup["model"], 3, 9, levels=[3])


# ---------------------------------------------------------------- code files

def test_code_file_round_trip(setup, grid, short, tmp_path):
    model = setup["model"]
    path = grid.save(tmp_path / "a.json")
    d = json.loads(path.read_text())
    assert d["format"] == "distill-codes" and d["version"] == 1
    assert d["model"] == {"name": "tiny", "weights_hash": model.identity}
    assert d["levels"] == 3 and d["roles"] == ["Structure", "Timbre", "Detail"] and d["columns"] == grid.columns
    assert d["sample_rate"] == RATE and d["seconds_per_column"] == pytest.approx(grid.seconds_per_column)
    assert path.stat().st_size < 10_000
    back = load_grid(path, model)
    assert torch.equal(back.indices, grid.indices) and back.source == "clip.wav" and back.embeddings is None
    blended = grid.copy(keep_history=False).blend(short, 0.4)
    back = load_grid(blended.save(tmp_path / "b.json"), model)
    assert torch.equal(decode_grid(model, back), decode_grid(model, blended))
    assert not list(tmp_path.glob(".*part*"))  # atomic writes leave nothing behind


def test_foreign_and_broken_code_files_are_refused(setup, grid, tmp_path):
    model = setup["model"]
    other = _train(setup["root"] / "demo", tmp_path / "other.distill", seed=1, epochs=1)
    path = grid.save(tmp_path / "a.json")
    with pytest.raises(CodeError, match=rf"made by model 'tiny' \(weights {model.identity}\), not by 'other' \(weights {other.identity}\)"):
        load_grid(path, other)
    (tmp_path / "text.json").write_text("hello")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    future = json.loads(path.read_text()); future["version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(future))
    broken = json.loads(path.read_text()); broken["indices"][0][0] = 999
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    track = json.loads(path.read_text()); track["level_track_db"] = [0.0, 1.0]   # the wrong length
    (tmp_path / "track.json").write_text(json.dumps(track))
    loud = json.loads(path.read_text()); loud["level_track_db"] = [0.0] * (loud["columns"] - 1) + [1000.0]   # 10^50 louder
    (tmp_path / "loud.json").write_text(json.dumps(loud))
    nan = json.loads(path.read_text()); nan["level_track_db"] = [float("nan")] * nan["columns"]
    (tmp_path / "nan.json").write_text(json.dumps(nan))
    for name, message in [("text.json", "not JSON"), ("other.json", "not a Distill code file"), ("future.json", "newer Distill"),
                          ("broken.json", "damaged code file"), ("track.json", "level track does not match"),
                          ("loud.json", "beyond ±12 dB"), ("nan.json", "beyond ±12 dB"),
                          ("missing.json", "code file not found")]:
        with pytest.raises(CodeError, match=message) as e: load_grid(tmp_path / name, model)
        assert name in str(e.value)


# ---------------------------------------------------------------- hearing codes (CODE-07)

def test_audition_clips_are_audible_and_differ_between_entries(setup):
    # how much entries differ is the model's business (a tiny model trained for seconds barely tells them apart);
    # what audition owes is an audible clip of exactly that entry, and different clips for different entries
    model = setup["model"]
    used = ranked_entries(model, 0)[:3]
    clips = {i: audition_code(model, 0, i, seconds=1.0) for i in used}
    column = model.config.downsample * model.audio.hop_length
    for c in clips.values():
        assert len(c) == round(1.0 / model.seconds_per_column) * column
        assert c.pow(2).mean().sqrt() > 0.02 and c.abs().max() <= 0.51
    books = model_codebooks(model)[0]
    for i in used:
        for j in used:
            if i < j and not torch.equal(books[i], books[j]): assert not torch.equal(clips[i], clips[j])
    held = neutral_codes(model)[:, None].repeat(1, len(clips[used[1]]) // column)
    held[0] = used[1]
    grid = CodeGrid(held, model.name, model.identity, model.audio.sample_rate, model.seconds_per_column, model.config.codebook_size)
    from distill.codes import _presentable   # the fades and the level every audition gets
    assert torch.allclose(clips[used[1]], _presentable(grid_to_audio(model, grid), model.audio.sample_rate), atol=1e-4)
    assert audition_code(model, 2, 3).pow(2).mean() > 0  # deeper levels are heard over a neutral structure
    with pytest.raises(CodeError, match="outside the codebook"): audition_code(model, 0, 16)
    assert neutral_codes(model).shape == (3,)


def test_solo_previews(setup, grid):
    model = setup["model"]
    column = solo_preview(model, grid, column=20, seconds=0.5)
    assert len(column) == round(0.5 / model.seconds_per_column) * model.config.downsample * model.audio.hop_length
    level = solo_preview(model, grid, level=0)
    whole = solo_preview(model, grid)
    assert len(level) == len(whole) == round(grid.duration * RATE)
    assert not torch.equal(level, whole)
    with pytest.raises(CodeError, match="outside"): solo_preview(model, grid, column=grid.columns)


def test_grid_colours_tell_neighbouring_entries_apart(grid):
    rgb = grid_colours(torch.arange(16)[None].repeat(3, 1))
    assert rgb.shape == (3, 16, 3) and rgb.dtype == np.uint8
    assert all(np.abs(rgb[0, i].astype(int) - rgb[0, i + 1]).sum() > 60 for i in range(15))


# ---------------------------------------------------------------- silence

def test_a_decoded_grid_keeps_the_recordings_silence_until_an_edit(setup, tmp_path):
    """Hits after digital silence decode with that silence (the decoder alone smears each hit over its code column);
    the silence travels in the code file and in a part, and leaves the columns someone edits (undo brings it back)."""
    model = setup["model"]
    hit = load_audio(setup["files"][0], RATE)[0][: RATE // 2]
    gap = torch.zeros(int(0.25 * RATE))
    audio = torch.cat([gap, hit, gap, hit])
    grid = encode_audio(model, audio, source="two hits")
    assert grid.silence is not None and len(grid.silence.starts) == 2
    out = grid_to_audio(model, grid)
    for start in (len(gap), 2 * len(gap) + len(hit)):
        assert float(out[start - len(gap) // 2: start - int(0.002 * RATE)].abs().max()) == 0.0   # silent up to 2 ms before
        assert float(out[start: start + int(0.05 * RATE)].abs().max()) > 0.0
    bare = grid.copy(); bare.silence = None
    assert float(grid_to_audio(model, bare)[len(gap) // 2: len(gap) - int(0.002 * RATE)].abs().max()) > 0.0   # it can fail
    # the code file carries it
    again = load_grid(grid.save(tmp_path / "two.codes.json"), model)
    assert torch.equal(grid_to_audio(model, again), out)
    # a part keeps it where it was
    D = model.config.downsample
    second = grid.column_at((2 * len(gap) + len(hit)) / RATE) - 8
    part = grid.part(second, grid.columns)
    assert part.silence.starts == [(t0 - second * D, s - second * D * model.audio.hop_length) for t0, s in grid.silence.starts[1:]]
    # an edited column is not silent; undo brings the silence back
    edited = grid.copy()
    edited.set_cell(0, 1, (int(grid.indices[0, 1]) + 1) % grid.codebook_size)
    assert not bool(edited.kept_silence().frames[D: 2 * D].any()) and bool(grid.kept_silence().frames[D: 2 * D].all())
    edited.undo()
    assert torch.equal(edited.kept_silence().frames, grid.silence.frames)


def test_a_code_file_with_damaged_silence_is_refused(setup, tmp_path):
    model = setup["model"]
    grid = encode_audio(model, torch.cat([torch.zeros(RATE // 4), load_audio(setup["files"][0], RATE)[0][: RATE // 2]]))
    d = grid.to_dict()
    d["silence"]["silent"] = [[0, 10 ** 6]]
    (tmp_path / "bad.codes.json").write_text(json.dumps(d))
    with pytest.raises(CodeError, match="damaged code file.*outside the recording"):
        load_grid(tmp_path / "bad.codes.json", model)
    no_silence = grid.to_dict(); del no_silence["silence"]   # a code file from before: decodes as it did
    assert CodeGrid.from_dict(no_silence).silence is None
