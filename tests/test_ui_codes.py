"""The codes editor, driven as a person would (set values, click buttons); in a real browser: tests/e2e/test_codes_editor.py."""
import html, io, json, time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from distill.audio import load_audio, write_audio
from distill import codes
from distill.codes import SELECTION_CONTEXT, load_grid, encode_audio_file
from distill.data import synth_demo_corpus
from distill.modelfile import load_model
from distill.train import TrainParams, train_vqvae
from distill.ui.codes import CodesEditor, selection_text, waveform_envelope, ENVELOPE_STEPS

TINY = dict(hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1)
RATE = 44100


def _train(folder, path, seed=0):
    for _ in train_vqvae(folder, path, params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False, seed=seed), **TINY):
        pass
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui_codes")
    files = synth_demo_corpus(root / "demo", n_files=6)
    model_path = _train(root / "demo", root / "tiny.distill")
    take = torch.cat([load_audio(f, RATE)[0] for f in files])
    write_audio(root / "take.wav", take, RATE)                  # ~6.5 s
    write_audio(root / "long.wav", take.repeat(5)[: 30 * RATE], RATE)  # 30 s
    kick = load_audio(files[0], RATE)[0][: int(0.65 * RATE)]
    write_audio(root / "kick.wav", torch.nn.functional.pad(kick, (0, int(0.65 * RATE) - len(kick))), RATE)   # 0.65 s
    return dict(root=root, files=files, model_path=model_path, model=load_model(model_path))


@pytest.fixture
def editor(setup):
    return CodesEditor(setup["model"], setup["root"] / "take.wav").wait()


def _select(editor, level0, level1, start, end):
    editor.timeline.selection = dict(level0=level0, level1=level1, start=start, end=end)  # what a click or drag sends


def test_opening_a_recording_shows_its_grid(setup, editor):
    g = editor.grid
    assert g is not None and g.source == "take.wav"
    t = editor.timeline
    assert (t.levels, t.columns, t.roles) == (3, g.columns, ["Structure", "Timbre", "Detail"])
    assert len(t.colours) == 3 * g.columns * 3 and len(t.indices) == 3 * g.columns * 2 and set(t.marks) <= {0}
    assert t.seconds_per_column == pytest.approx(g.seconds_per_column)
    assert "take.wav: 3 levels" in editor.status.value and "distill-status-ok" in editor.status.value
    assert len(editor.original_player.value) > 1000 and editor.edited_player.value == b""
    assert editor.undo_button.disabled and editor.redo_button.disabled and not editor.decode_button.disabled
    assert editor.save_path.value.endswith("take.codes.json")


def test_click_a_cell_set_it_undo_redo(editor):
    g = editor.grid
    _select(editor, 1, 1, 9, 10)
    assert "Level 2 Timbre · column 9" in editor.selection_info.value
    assert editor.code.value == int(g.indices[1, 9])
    before = g.indices.clone()
    editor.code.value = (editor.code.value + 3) % 16
    editor.set_button.click()
    assert int(g.indices[1, 9]) == editor.code.value and int((g.indices != before).sum()) == 1
    assert editor.timeline.marks[g.columns + 9] == 1 and not editor.undo_button.disabled
    assert "1 edit: last — set level 2 (Timbre) column 9" in editor.history_info.value
    editor.undo_button.click()
    assert torch.equal(g.indices, before) and editor.timeline.marks[g.columns + 9] == 0 and not editor.redo_button.disabled
    editor.redo_button.click()
    assert int((g.indices != before).sum()) == 1 and editor.redo_button.disabled


def test_set_fills_a_selected_region(editor):
    g = editor.grid
    _select(editor, 0, 1, 4, 8)
    assert "Region: levels 1–2" in editor.selection_info.value
    editor.code.value = 2
    editor.set_button.click()
    assert (g.indices[:2, 4:8] == 2).all()


def test_refused_edits_leave_the_grid_and_say_why(editor):
    g = editor.grid
    before = g.indices.clone()
    editor.timeline.selection = {}
    editor.set_button.click()
    assert "select a cell" in editor.status.value and "distill-status-error" in editor.status.value
    _select(editor, 0, 0, 0, 5)
    editor.swap_button.click()  # no B yet (the button is disabled; the method still refuses)
    editor.swap()
    assert "load recording B first" in editor.status.value
    assert torch.equal(g.indices, before) and not g.can_undo
    assert editor.swap_button.disabled and editor.blend_button.disabled


def test_swap_and_blend_with_a_second_recording(setup, editor):
    g = editor.grid
    editor.load_other(setup["files"][5]); editor.wait()
    b = editor.other
    assert b is not None and "B: pad_005.wav" in editor.other_info.value and not editor.swap_button.disabled
    _select(editor, 0, 1, 20, 30)
    editor.other_start.value = 0.5
    editor.swap_button.click()
    start = b.column_at(0.5)
    assert torch.equal(g.indices[:2, 20:30], b.indices[:2, start:start + 10])
    editor.blend_amount.value = 1.0
    for box, on in zip(editor.blend_levels.children, [False, False, True]): box.value = on
    editor.blend_button.click()
    assert torch.equal(g.indices[2, :b.columns], b.indices[2]) and g.embeddings is None
    editor.undo_button.click()
    editor.blend_amount.value = 0.5
    editor.blend_button.click()
    assert g.blended[2].any() and not g.blended[:2].any()
    assert any(m & 2 for m in editor.timeline.marks[2 * g.columns:])  # blended cells are striped
    for box in editor.blend_levels.children: box.value = False
    editor.blend_button.click()
    assert "check at least one level" in editor.status.value


def test_audition_solo_and_decode(editor, monkeypatch):
    "Audition code, Solo column and Solo level showed a player but played nothing: now each plays what it made, at once."
    played = []
    monkeypatch.setattr(editor.audition_player, "send", lambda content, buffers=None: played.append(content))
    _select(editor, 0, 0, 15, 16)
    lengths = {editor.audition_button: 1.0, editor.solo_column_button: 1.0, editor.solo_level_button: editor.grid.duration}
    for button, seconds in lengths.items():
        editor.audition_player.value = b""
        button.click()
        assert len(editor.audition_player.value) > 1000, editor.status.value
        assert played[-1] == {"play": True} and "distill-status-ok" in editor.status.value and "✔" in editor.status.value
        assert editor.audition_player.seconds == pytest.approx(seconds, abs=0.1)   # what the player shows beside ▶ Play
    assert len(played) == 3
    editor.decode_button.click()
    assert editor.decode_button.disabled  # while Griffin-Lim runs
    editor.wait()
    assert len(editor.edited_player.value) > 1000 and "Decoded" in editor.status.value
    assert not editor.decode_button.disabled and not editor.busy


def test_save_and_reopen_codes(setup, editor, tmp_path):
    _select(editor, 2, 2, 3, 4)
    editor.code.value = 5
    editor.set_button.click()
    editor.save(tmp_path / "edited.json")
    assert "Saved" in editor.status.value
    back = load_grid(tmp_path / "edited.json", setup["model"])
    assert torch.equal(back.indices, editor.grid.indices)
    other = CodesEditor(setup["model"], tmp_path / "edited.json").wait()
    assert torch.equal(other.grid.indices, back.indices) and other.original_player.value == b""


def test_save_codes_defaults_beside_the_notebook_and_never_writes_over_a_file(setup, editor, tmp_path):
    assert editor.save_path.value == str(Path("distill_outputs") / "take.codes.json")   # not in the recordings' folder
    editor.save_path.value = str(tmp_path / "take.codes.json")
    editor.save_button.click()
    first = (tmp_path / "take.codes.json").read_bytes()
    _select(editor, 0, 0, 2, 3)
    editor.code.value = (int(editor.grid.indices[0, 2]) + 1) % 16
    editor.set_button.click()
    editor.save_button.click()                                         # the same name again: a new file, the first kept
    assert (tmp_path / "take.codes.json").read_bytes() == first
    assert f"Saved {tmp_path / 'take.codes-2.json'}" in editor.status.value and "was already there and is kept" in editor.status.value
    assert torch.equal(load_grid(tmp_path / "take.codes-2.json", setup["model"]).indices, editor.grid.indices)
    other = CodesEditor(setup["model"], tmp_path / "take.codes-2.json").wait()   # a code file opened: saved beside the notebook too
    assert other.save_path.value == str(Path("distill_outputs") / "take.codes-2.json")


def test_another_model_refuses_the_code_file(setup, tmp_path):
    editor = CodesEditor(setup["model"], setup["root"] / "take.wav").wait()
    editor.save(tmp_path / "a.json")
    other_model = load_model(_train(setup["root"] / "demo", tmp_path / "other.distill", seed=1))
    editor.load_model(other_model)
    assert editor.grid is None and editor.set_button.disabled   # the old grid belonged to the other model
    editor.open(tmp_path / "a.json"); editor.wait()
    assert "made by model 'tiny'" in html.unescape(editor.status.value) and editor.grid is None


def test_regenerate_needs_a_prior_and_uses_it(setup, editor, monkeypatch):
    assert editor.regenerate_button.disabled and "no prior" in editor.regenerate_button.tooltip
    import distill.generate as generate
    asked = []
    def fake(model, codes, start, end, sampling, levels=None):
        asked.append(levels)
        return torch.full_like(codes, 1)                          # a prior that would change every cell it could
    monkeypatch.setattr(generate, "require_prior", lambda model: object())
    monkeypatch.setattr(generate, "regenerate_region", fake)
    monkeypatch.setattr(setup["model"], "prior", object())
    editor.load_model(setup["model"])
    assert not editor.regenerate_button.disabled and "the other levels stay" in editor.regenerate_button.tooltip
    g = editor.grid
    before = g.indices.clone()
    _select(editor, 0, 0, 10, 20)                                 # level 1 only, columns 10-19
    editor.regenerate_button.click()
    assert asked == [[0]] and (g.indices[0, 10:20] == 1).all()
    assert torch.equal(g.indices[1:], before[1:]) and torch.equal(g.indices[0, 20:], before[0, 20:])   # levels 2 and 3 unchanged
    assert "Re-generated by the prior (seed 0): level 1 (Structure) columns 10–19." in editor.status.value
    assert editor.seed.value == 1                                 # pressing again gives another take
    _select(editor, 0, 2, 30, 32)
    editor.regenerate_button.click()
    assert asked[-1] == [0, 1, 2] and (g.indices[:, 30:32] == 1).all() and "(seed 1): columns 30–31." in editor.status.value


def test_editor_stays_responsive_for_a_30_second_file(setup):
    editor = CodesEditor(setup["model"], setup["root"] / "long.wav").wait()
    g = editor.grid
    assert 600 <= g.columns <= 700
    t0 = time.perf_counter()
    for column in range(0, 200, 10):
        _select(editor, 1, 1, column, column + 1)
        editor.code.value = column % 16
        editor.set_button.click()
    per_edit = (time.perf_counter() - t0) / 20
    assert g.can_undo and len(g.history.labels) == 20
    assert per_edit < 0.1, f"{per_edit * 1000:.0f} ms per selection + edit + redraw"
    assert len(editor.timeline.colours) + len(editor.timeline.indices) + len(editor.timeline.marks) < 20_000  # bytes per redraw


def test_selection_text_without_a_grid():
    assert selection_text(None, {}) == "Encode a recording to see its codes."


def test_the_editor_shows_itself_as_the_last_expression_of_a_cell():
    editor = CodesEditor()
    assert "application/vnd.jupyter.widget-view+json" in editor._repr_mimebundle_()
    assert {"distill-dashboard", "distill-codes"} <= set(editor.widget._dom_classes)


def _sent(editor, monkeypatch):
    "The messages the timeline sends its front end (play, stop, scroll), recorded."
    sent = []
    monkeypatch.setattr(editor.timeline, "send", lambda content, buffers=None: sent.append(content))
    return sent


def _wav_frames(data: bytes) -> int: return sf.info(io.BytesIO(data)).frames


def test_a_model_given_at_construction_is_named_in_the_first_status(setup):
    editor = CodesEditor(setup["model"])
    assert "Model tiny loaded. Choose a recording and press Encode / open." in editor.status.value
    assert "distill-status-ok" in editor.status.value and not editor.encode_button.disabled
    assert "Load a model with .load_model(…), then choose a recording and press Encode / open." in CodesEditor().status.value


def test_the_waveform_lies_under_the_columns(setup, editor):
    g, t, n = editor.grid, editor.timeline, editor._samples_per_column
    assert len(t.envelope) == g.columns * ENVELOPE_STEPS * 2 and t.envelope_steps == ENVELOPE_STEPS   # (min, max) per step
    assert t.envelope_label == "original"
    original = load_audio(setup["root"] / "take.wav", RATE)[0]
    assert t.envelope == waveform_envelope(original, g.columns, n).tobytes()          # column c's samples under column c
    assert any(t.envelope)                                                            # not silence
    envelope = t.envelope
    _select(editor, 0, 0, 4, 5); editor.code.value = 1; editor.set_button.click()
    assert t.envelope == envelope                                                     # an edit redraws cells only
    editor.decode_button.click(); editor.wait()
    assert t.envelope_label == "edited" and len(t.envelope) == g.columns * ENVELOPE_STEPS * 2


def test_a_short_sound_fills_the_view_with_a_zoom_readout(setup):
    editor = CodesEditor(setup["model"], setup["root"] / "kick.wav").wait()
    g, t = editor.grid, editor.timeline
    assert g.columns <= 16                                                            # a strip of 8 px columns before
    assert g.columns * t.cell_width >= 600 and t.cell_width == editor.zoom.value <= editor.zoom.max
    assert f"{t.cell_width} px/column · all 0.65 s in view" in editor.zoom_info.value
    t.view_width = 1400                                                               # the browser reports a wider view
    assert g.columns * t.cell_width > 900 and "all 0.65 s in view" in editor.zoom_info.value
    editor.zoom.value = 20                                                            # the person zooms: it stays theirs
    assert t.cell_width == 20 and "20 px/column" in editor.zoom_info.value
    t.view_width = 900
    assert t.cell_width == 20
    long = CodesEditor(setup["model"], setup["root"] / "long.wav").wait()            # a long one scrolls, legibly
    assert long.timeline.cell_width == 8 and "8 px/column · 5.2 s of 30.0 s in view" in html.unescape(long.zoom_info.value)


def test_short_players_show_their_length(setup, monkeypatch):
    editor = CodesEditor(setup["model"], setup["root"] / "kick.wav").wait()
    assert editor.original_player.seconds == pytest.approx(0.65, abs=1e-3) and editor.edited_player.value == b""   # the player reads "0.65 s"
    boxes = editor._player_boxes   # no "edited" label without a player beside it, before Decode
    assert boxes["original"].layout.display != "none" and boxes["edited"].layout.display == "none"
    assert editor.timeline.sound_label == "original" and editor.timeline.sound_seconds == pytest.approx(0.65, abs=1e-3)
    sent = _sent(editor, monkeypatch)
    editor.decode_button.click(); editor.wait()
    assert editor.edited_player.seconds == pytest.approx(editor.grid.duration, abs=1e-3)
    assert boxes["edited"].layout.display != "none"
    assert editor.timeline.sound_label == "edited" and editor.timeline.sound_seconds == pytest.approx(editor.grid.duration)
    assert _wav_frames(editor.timeline.sound) == editor.grid.columns * editor._samples_per_column
    assert sent == [{"play": True}] and "playing on the timeline" in editor.status.value


def test_play_selection_decodes_only_the_selected_columns(setup, editor, monkeypatch):
    g, t, n = editor.grid, editor.timeline, editor._samples_per_column
    decoded, decode = [], codes.grid_to_audio
    monkeypatch.setattr(codes, "grid_to_audio", lambda model, grid, *a, **k: decoded.append(grid.columns) or decode(model, grid, *a, **k))
    sent = _sent(editor, monkeypatch)
    _select(editor, 1, 1, 20, 31)                                                     # columns 20–30, one level: all levels play
    editor.play_selection_button.click()
    assert editor.play_selection_button.disabled
    editor.wait()
    assert decoded == [11 + 2 * SELECTION_CONTEXT] and decoded[0] < g.columns / 4    # the region and a little context
    assert _wav_frames(t.sound) == 11 * n and t.sound_seconds == pytest.approx(11 * g.seconds_per_column)
    assert t.sound_start == pytest.approx(20 * g.seconds_per_column)                  # the playhead starts at the selection
    assert t.sound_label == "columns 20–30" and sent == [{"play": True}]
    assert "Playing columns 20–30 of the edited grid" in editor.status.value
    assert t.envelope_label == "original" and editor.edited_player.value == b""       # the whole file was not decoded
    _select(editor, 0, 2, 0, 1)                                                       # one column at the very start
    editor.play_selection(); editor.wait()
    assert decoded[-1] == 1 + SELECTION_CONTEXT and _wav_frames(t.sound) == n and t.sound_start == 0
    editor.timeline.selection = {}
    editor.play_selection()
    assert "select a cell" in editor.status.value


def test_play_original_plays_the_recording_over_its_waveform(setup, editor, monkeypatch):
    sent = _sent(editor, monkeypatch)
    editor.decode(); editor.wait()
    assert editor.timeline.envelope_label == "edited"
    editor.play_original_button.click()
    assert editor.timeline.envelope_label == "original" and editor.timeline.sound_label == "original"
    assert sent == [{"play": True}, {"play": True}] and "Playing the original" in editor.status.value
    from_codes = CodesEditor(setup["model"])
    editor.save(setup["root"] / "take.codes.json")
    from_codes.open(setup["root"] / "take.codes.json"); from_codes.wait()
    assert from_codes.play_original_button.disabled and from_codes.timeline.envelope == b"" and from_codes.timeline.sound == b""
    assert "Press Decode to hear it." in from_codes.status.value


def test_history_and_selection_name_the_same_columns(editor):
    _select(editor, 0, 1, 2, 13)                                                      # a drag from column 2 to column 12
    assert "× columns 2–12," in editor.selection_info.value and "(11 columns)" in editor.selection_info.value
    editor.code.value = 4
    editor.set_button.click()
    assert "1 edit: last — fill level 1 (Structure), 2 (Timbre) columns 2–12 with 4" in editor.history_info.value
    _select(editor, 2, 2, 5, 6)
    editor.set_button.click()
    _select(editor, 0, 2, 7, 8)
    assert "× column 7," in editor.selection_info.value and "(1 column)" in editor.selection_info.value
    editor.code.value = 4                                                             # selecting one cell showed its code
    editor.set_button.click()
    assert "3 edits: last — fill level 1 (Structure), 2 (Timbre), 3 (Detail) column 7 with 4" in editor.history_info.value


def _picked(path: Path) -> tuple:
    "What the browser sends a FileUpload when a file is picked."
    import datetime
    data = Path(path).read_bytes()
    return ({"name": Path(path).name, "type": "audio/wav", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_recordings_can_be_chosen_not_only_typed(setup, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                       # the notebook's folder: uploads are kept beside it
    editor = CodesEditor(setup["model"])
    assert not editor.path_chooser.disabled and editor.path_chooser.accept.startswith(".wav")
    editor.path_chooser.value = _picked(setup["root"] / "kick.wav")
    editor.wait()
    assert editor.grid is not None and editor.grid.source == "kick.wav"
    assert Path(editor.path.value) == Path("distill_outputs") / "uploads" / "kick.wav" and editor.path_chooser.value == ()
    editor.other_chooser.value = _picked(setup["root"] / "take.wav")
    editor.wait()
    assert editor.other is not None and editor.other.source == "take.wav" and "B loaded" in editor.status.value
    assert CodesEditor().path_chooser.disabled                         # no model yet: nothing to encode with


def test_after_undo_the_waveform_is_the_original_again(editor):
    "After Undo the waveform stayed labelled 'edited' until the next Decode."
    _select(editor, 1, 1, 4, 5)
    editor.code.value = (int(editor.grid.indices[1, 4]) + 1) % 16
    editor.set_button.click()
    editor.decode_button.click(); editor.wait()
    assert editor.timeline.envelope_label == "edited"
    editor.undo_button.click()
    assert (editor.timeline.envelope_label, editor.timeline.sound_label) == ("original", "original")
    assert editor.timeline.envelope == bytes(waveform_envelope(editor.original, editor.grid.columns, editor._samples_per_column).tobytes())
    editor.redo_button.click()
    assert editor.timeline.envelope_label == "edited"                  # the decoded grid again
    _select(editor, 2, 2, 7, 8)
    editor.code.value = (int(editor.grid.indices[2, 7]) + 1) % 16
    editor.set_button.click()                                          # another edit: the decoding is no longer this grid
    assert editor.timeline.envelope_label == "edited · not the grid as it is now: press Decode"
