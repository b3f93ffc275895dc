"""The training dashboard driven as a person would (set values, click buttons), asserting on what they would see."""
import html, math, shutil, time
from pathlib import Path

import pytest

from distill.health import LevelHealth, health_verdict, level_health
from distill.modelfile import load_model, read_metadata
from distill.train import (CheckpointSaved, EpochEnd, TrainFinished, TrainParams, TrainStarted, TrainWarning,
                           checkpoint_path)
from distill.ui.train import TrainingDashboard
from conftest import TINY

TINY_TRAINING = dict(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False)
PNG = b"\x89PNG"


def dashboard(dataset, model_path, **train) -> TrainingDashboard:
    return TrainingDashboard(str(dataset), str(model_path), train_params={**TINY_TRAINING, **train}, config_overrides=TINY)


def run(button, dash_or_panel, timeout=120):
    "Click `button` and wait for the background job it starts."
    button.click()
    assert dash_or_panel.job is not None
    dash_or_panel.job.join(timeout)
    assert not dash_or_panel.job.running


def png(image) -> bool: return bytes(image.value[:4]) == PNG


def wait_for(condition, timeout=30.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------- settings and scan

def test_scan_shows_summary_skipped_files_and_automatic_codebook_size(demo_corpus, tmp_path):
    folder = tmp_path / "sounds"
    shutil.copytree(demo_corpus, folder)
    (folder / "notes.txt").write_text("not a sound")
    dash = TrainingDashboard(str(folder), str(tmp_path / "m.distill"))
    dash.scan_button.click()
    assert "8 usable files" in dash.scan_info.value and "notes.txt: not an audio file" in dash.scan_info.value
    assert dash.codebook_size.label == "auto (64 for 8 files)" and dash.codebook_size.value == 0
    assert dash.config_overrides()["codebook_size"] is None             # auto: train_vqvae picks the size
    dash.codebook_size.value = 32
    assert dash.config_overrides()["codebook_size"] == 32


def test_widgets_start_from_the_given_settings_and_pass_the_rest_through(tmp_path):
    dash = TrainingDashboard("x", "m.distill", train_params=TrainParams(epochs=7, batch_size=4),
                             config_overrides=dict(TINY, rvq_levels=2, commitment_weight=0.5))
    assert (dash.epochs.value, dash.rvq_levels.value, dash.codebook_dim.value, dash.commitment_weight.value) == (7, 2, 8, 0.5)
    assert dash.codebook_size.label == "16"
    assert dash.progress.max == 7
    dash.epochs.value = 12                                             # idle: the progress bar follows the field
    assert dash.progress.max == 12 and "epoch 0 of 12" in dash.epoch_counter.value
    assert dash.train_params() == TrainParams(epochs=12, batch_size=4)
    assert dash.config_overrides() == dict(hidden=32, latent_dim=16, res_blocks=1, codebook_size=16, rvq_levels=2,
                                           codebook_dim=8, commitment_weight=0.5)


def test_minutes_size_either_stage_in_place_of_its_epochs(tmp_path):
    "A time in Minutes (0: the epochs decide) goes to the core as `minutes`, and the epochs field then waits."
    from distill.prior import PriorTrainParams
    started = []
    def train_prior(model_path, dataset, params=None, **kwargs):
        started.append(params); yield from ()
    dash = TrainingDashboard("x", tmp_path / "m.distill", train_params=TrainParams(minutes=3), prior_api=(train_prior, PriorTrainParams))
    assert dash.minutes.value == 3 and dash.epochs.disabled and dash.train_params() == TrainParams(minutes=3)
    dash.minutes.value = 0
    assert not dash.epochs.disabled and dash.train_params() == TrainParams()
    dash.prior.minutes.value = 1.5
    assert dash.prior.epochs.disabled
    dash.prior.set_model(tmp_path / "m.distill")
    run(dash.prior.start_button, dash.prior, timeout=10)
    assert started == [PriorTrainParams(minutes=1.5)]


def test_the_first_view_speaks_to_musicians_and_the_engineers_terms_are_one_click_away(tmp_path):
    from distill.ui.train import ENGINEER_TERMS
    dash = TrainingDashboard("x", tmp_path / "m.distill")
    first = [dash.rvq_levels.description, dash.codebook_size.description, dash.epochs.description]
    assert first == ["Layers", "Palette size", "Epochs"] and dash.rvq_levels.label == "Structure · Timbre · Detail"
    assert [label for label, _ in dash.rvq_levels.options] == ["Structure · Detail", "Structure · Timbre · Detail",
                                                               "Structure · Timbre · Timbre · Detail"]
    assert "Structure" in dash.settings_help.value and "Timbre" in dash.settings_help.value
    assert dash.engineer_box.layout.display == "none"                  # Codebook dim and Commitment: not in the first view
    assert all(w in dash.engineer_box.children[0].children for w in (dash.codebook_dim, dash.commitment_weight))
    dash.engineer_view.value = True                                    # one click
    assert dash.engineer_box.layout.display is None and dash.engineer_view.button_style == "info"
    for _, term, line in ENGINEER_TERMS:                                # every engineer's word, with a line of its own
        assert f"<b>{term}</b>" in dash.engineer_terms.value and html.escape(line) in dash.engineer_terms.value
    assert {t for _, t, _ in ENGINEER_TERMS} >= {"RVQ levels", "Codebook dim", "Commitment", "perplexity", "dead codes"}
    from distill.ui.common import health_table_html
    head = health_table_html([LevelHealth(1, "Structure", 0.5, 3.0, 8, 16)])
    assert all(w in head for w in ("codes in use", "variety", "never used")) and ">perplexity<" not in head


# ---------------------------------------------------------------- training

def test_training_fills_plot_table_heatmap_light_preview_and_opens_the_prior_panel(demo_corpus, tmp_path):
    path = tmp_path / "tiny.distill"
    dash = dashboard(demo_corpus, path, preview_every=2)
    assert dash.prior.start_button.disabled                           # no model yet
    dash.rvq_levels.value, dash.commitment_weight.value = 2, 0.4
    run(dash.start_button, dash)
    assert dash.progress.max == 2 and dash.progress.value == 2 and dash.progress.bar_style == "success"
    assert dash.health_table.value.count("<tr>") == 1 + 2             # header + one row per level
    assert "Structure" in dash.health_table.value and "Detail" in dash.health_table.value
    assert png(dash.plot) and png(dash.heatmap)
    assert [h["epoch"] for h in dash.history] == [1, 2]
    model = load_model(path)
    assert (model.config.rvq_levels, model.config.commitment_weight, model.config.hidden) == (2, 0.4, 32)
    assert health_verdict(level_health(model.usage)).sentence in dash.light.value
    assert "Finished 2 epochs" in dash.status.value and "tiny.distill" in dash.status.value
    assert len(dash.preview_original.value) > 1000 and len(dash.preview_reconstruction.value) > 1000
    assert 0 < dash.preview_original.seconds == dash.preview_reconstruction.seconds   # each player shows its length in seconds
    assert dash.prior.model_path.value == str(path) and not dash.prior.start_button.disabled
    assert "Train prior button" in dash.prior.model_info.value and "distill train-prior" not in dash.prior.model_info.value
    assert not dash.start_button.disabled and dash.cancel_button.disabled
    assert dash.resume_button.disabled and not checkpoint_path(path).exists()   # finished: no checkpoint left beside the model


def test_low_utilisation_is_listed_as_a_warning(demo_corpus, tmp_path):
    dash = dashboard(demo_corpus, tmp_path / "wide.distill", epochs=1)
    dash.codebook_size.value = 1024                                    # far too many codes for 8 short files
    run(dash.start_button, dash)
    assert dash.warnings and all(isinstance(w, TrainWarning) for w in dash.warnings)
    assert "warning" in dash.warning_list.value and "uses only" in dash.warning_list.value
    assert "Warning" in dash.light.value or "Collapsed" in dash.light.value


def test_cancel_then_resume_continues_from_the_checkpoint_epoch(demo_corpus, tmp_path):
    path = tmp_path / "resume.distill"
    dash = dashboard(demo_corpus, path, epochs=4)
    cancelled = []
    def cancel_after_epoch_2(change):
        # runs in the training thread as the progress bar moves: cancel exactly once, after epoch 2
        if change.new == 2 and not cancelled: cancelled.append(1); dash.cancel_button.click()
    dash.progress.observe(cancel_after_epoch_2, "value")
    run(dash.start_button, dash)
    assert dash.finished.cancelled and dash.progress.value == 2 and dash.progress.bar_style == "warning"
    assert "Cancelled after epoch 2" in dash.status.value and "Resume" in dash.status.value
    assert read_metadata(checkpoint_path(path))["extra"]["epoch"] == 2
    assert not dash.resume_button.disabled

    run(dash.resume_button, dash)
    assert dash.started.start_epoch == 2
    assert [h["epoch"] for h in dash.history] == [1, 2, 3, 4]        # the loss plot keeps the first two epochs
    assert not dash.finished.cancelled and dash.progress.value == dash.progress.max == 4
    assert "Finished 4 epochs" in dash.status.value


def test_resume_after_a_restart_reads_the_history_from_the_checkpoint(demo_corpus, tmp_path):
    path = tmp_path / "restart.distill"
    first = dashboard(demo_corpus, path, epochs=3)
    first.progress.observe(lambda c: c.new == 1 and first.cancel_button.click(), "value")
    run(first.start_button, first)
    second = dashboard(demo_corpus, path, epochs=3)                   # a new dashboard, as after a kernel restart
    run(second.resume_button, second)
    assert second.started.start_epoch == 1 and [h["epoch"] for h in second.history] == [1, 2, 3]


@pytest.mark.parametrize("problem, expected", [
    ("missing", "dataset folder not found"),
    ("too_few", "only 2 usable audio files (at least 5 needed)"),
])
def test_a_bad_dataset_folder_gives_one_clear_error_line(demo_corpus, tmp_path, problem, expected):
    folder = tmp_path / problem
    if problem == "too_few":
        folder.mkdir()
        for f in sorted(demo_corpus.iterdir())[:2]: shutil.copy(f, folder)
    dash = dashboard(folder, tmp_path / "m.distill")
    run(dash.start_button, dash)                                       # no exception escapes the click
    assert expected in dash.status.value and "distill-status-error" in dash.status.value
    assert "\n" not in dash.status.value and "Traceback" not in dash.status.value
    assert dash.progress.bar_style == "danger" and not dash.start_button.disabled and dash.cancel_button.disabled
    dash.scan_button.click()
    assert expected in dash.scan_info.value


def test_start_without_a_folder_or_resume_without_a_checkpoint_says_what_to_do(demo_corpus, tmp_path):
    dash = dashboard("", tmp_path / "m.distill")
    dash.start_button.click()
    assert dash.job is None and "Choose a dataset folder first" in dash.status.value
    dash.dataset.value = str(demo_corpus)
    assert dash.resume_button.disabled                                 # nothing to resume yet
    run(dash.resume_button, dash)                                      # clicked anyway (e.g. from code)
    assert "no checkpoint to resume from" in dash.status.value


# ---------------------------------------------------------------- no silent loss

def test_start_again_numbers_the_new_model_and_keeps_the_trained_one(demo_corpus, tmp_path):
    path, numbered = tmp_path / "m.distill", tmp_path / "m-2.distill"
    dash = dashboard(demo_corpus, path, epochs=1)
    assert dash.output_note.value == ""                                # a free name: nothing to say
    run(dash.start_button, dash)
    trained = path.read_bytes()
    # right after "Finished": a plain line, not a warning that reads as if something went wrong
    assert ("Start again trains another model, into " + str(numbered) + "; m.distill, trained above, stays as it is."
            in dash.output_note.value) and "distill-status-info" in dash.output_note.value
    dash.start_button.click()                                          # the press that used to overwrite m.distill
    assert dash.output.value == str(numbered) and f"{path} is kept as it was" in dash.output_note.value
    dash.job.join(120)
    assert path.read_bytes() == trained and numbered.exists() and sorted(p.name for p in tmp_path.glob("m*")) == ["m-2.distill", "m.distill"]
    assert "saved in m-2.distill" in dash.status.value and dash.prior.model_path.value == str(numbered)
    other = dashboard(demo_corpus, path, epochs=1)                     # a model this dashboard did not train: a warning
    assert (f"{path} already exists: Start keeps it and trains a new model into {tmp_path / 'm-3.distill'}."
            in other.output_note.value) and "distill-status-warn" in other.output_note.value


def test_a_checkpoint_alone_keeps_its_name_taken_and_defaults_stay_out_of_the_dataset(demo_corpus, tmp_path):
    (tmp_path / "c.distill.ckpt").write_bytes(b"an unfinished training")
    dash = dashboard(demo_corpus, tmp_path / "c.distill")
    assert (f"{tmp_path / 'c.distill'} has the checkpoint of an unfinished training: Start keeps it and trains a new model "
            f"into {tmp_path / 'c-2.distill'}; Resume continues it from its checkpoint up to Epochs") in dash.output_note.value
    dash.output.value = str(tmp_path / "free.distill")
    assert dash.output_note.value == ""
    assert TrainingDashboard(str(demo_corpus)).output.value == str(Path("distill_outputs") / "model.distill")


# ---------------------------------------------------------------- loading a model, the prior panel

def test_load_model_shows_its_health_and_opens_the_prior_panel(tiny_model, tmp_path):
    dash = TrainingDashboard()
    dash.prior.model_path.value = str(tiny_model)
    dash.prior.load_button.click()
    assert dash.model is not None and png(dash.heatmap)
    assert health_verdict(level_health(dash.model.usage)).sentence in dash.light.value
    assert "3 levels" in dash.prior.model_info.value and not dash.prior.start_button.disabled
    bad = tmp_path / "bad.distill"; bad.write_text("not a model")
    assert dash.load(bad) is None
    assert "bad.distill" in dash.prior.status.value and "distill-status-error" in dash.prior.status.value
    assert dash.load(tmp_path / "nowhere.distill") is None and "no such model file" in dash.prior.status.value


def _fake_prior_api(calls: list):
    "A stand-in for distill.prior (train_prior, PriorTrainParams) that memorises at epoch 3 and waits to be stopped."
    from distill.prior import MemorisationWarning, PriorTrainParams

    def train_prior(model_path, dataset, params=None, cancel=None, resume=False, progress=None, **overrides):
        calls.append(dict(model_path=model_path, dataset=dataset, params=params, resume=resume, overrides=overrides))
        yield TrainStarted("prior", params.epochs, 0, "cpu", {"files": 8}, {})
        for epoch, (train, val) in enumerate([(20.0, 22.0), (12.0, 18.0), (6.0, 25.0)], 1):
            yield EpochEnd("prior", epoch, params.epochs, math.log(train), math.log(val), [], 0.01, epoch == 2,
                           extra=dict(train_perplexity=train, val_perplexity=val))
        yield MemorisationWarning("prior", 3, "the prior is memorising the training files", 6.0, 25.0)
        stopped = cancel.wait(20)
        yield CheckpointSaved("prior", 3, Path(f"{model_path}.prior.ckpt"))
        yield TrainFinished("prior", Path(model_path), Path(f"{model_path}.prior.ckpt"), 3, math.log(12), math.log(18), 2,
                            [], stopped, extra=dict(train_perplexity=12.0, val_perplexity=18.0))
    return train_prior, PriorTrainParams


def test_memorisation_warning_offers_stop_and_keep_best(tiny_model, demo_corpus):
    calls = []
    dash = TrainingDashboard(str(demo_corpus), prior_api=_fake_prior_api(calls),
                             prior_train_params=dict(batch_size=4), prior_overrides=dict(d_model=32))
    dash.load(tiny_model)
    dash.prior.epochs.value = 10
    dash.prior.start_button.click()
    panel = dash.prior
    wait_for(lambda: panel.keep_best_button.layout.display != "none")
    assert "Memorising" in panel.memorisation.value and "25.00" in panel.memorisation.value
    assert png(panel.plot) and panel.progress.value == 3 and panel.progress.max == 10
    panel.keep_best_button.click()
    panel.job.join(20)
    assert calls[0]["params"].epochs == 10 and calls[0]["params"].batch_size == 4
    assert calls[0]["overrides"] == dict(d_model=32) and calls[0]["dataset"] == str(demo_corpus)
    assert "Stopped after epoch 3" in panel.status.value and "18.00 at epoch 2" in panel.status.value
    assert panel.keep_best_button.layout.display == "none" and not panel.start_button.disabled


def test_prior_panel_trains_a_real_prior_into_the_model_file(tiny_model, demo_corpus, tmp_path):
    path = tmp_path / "with_prior.distill"
    shutil.copy(tiny_model, path)
    dash = TrainingDashboard(str(demo_corpus), prior_train_params=dict(batch_size=4, min_steps_per_epoch=2),
                             prior_overrides=dict(d_model=32, n_layers=1, n_heads=2, window=16))
    dash.load(path)
    assert "Ready to train the prior of this model" in dash.prior.status.value
    dash.prior.epochs.value = 2
    run(dash.prior.start_button, dash.prior)
    assert "Prior trained" in dash.prior.status.value, dash.prior.status.value
    assert [h["epoch"] for h in dash.prior.history] == [1, 2] and png(dash.prior.plot)
    assert dash.prior.progress.value == 2 and "prior: yes" in dash.prior.model_info.value
    assert load_model(path).prior is not None
    dash.load(path)                                                    # training again writes over this prior: it says so
    assert "Train prior replaces the prior this model already has" in dash.prior.status.value


def test_the_prior_waits_for_a_model_and_for_model_training_to_finish(tiny_model, demo_corpus, tmp_path):
    path = tmp_path / "busy.distill"
    shutil.copy(tiny_model, path)
    dash = dashboard(demo_corpus, path, epochs=1)
    dash.prior.start_button.click()                                    # disabled, but clicked from code anyway
    assert dash.prior.job is None and "load one" in dash.prior.status.value
    dash.load(path)
    dash.start_button.click()                                          # trains a model (busy-2.distill: busy.distill is kept)
    dash.prior.start_button.click()
    assert dash.prior.job is None and "Wait for the model training to finish" in dash.prior.status.value
    dash.job.join(120)
    assert "Ready to train the prior" in dash.prior.status.value and not dash.prior.start_button.disabled


def test_the_dashboard_shows_itself_as_the_last_expression_of_a_cell(tmp_path):
    dash = TrainingDashboard("", str(tmp_path / "m.distill"))
    assert "application/vnd.jupyter.widget-view+json" in dash._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in dash.prior._repr_mimebundle_()   # the prior panel on its own, too


def test_the_counter_shows_progress_inside_an_epoch(demo_corpus):
    dash = TrainingDashboard(str(demo_corpus))
    dash.prior.progress.max, dash.prior.progress.value = 30, 4
    dash.prior.show_progress("training", 7, 20)
    assert "epoch 5 of 30: batch 7 of 20" in dash.prior.epoch_counter.value
    dash.show_progress("reading audio", 3, 8)
    assert "reading audio: 3 of 8" in dash.epoch_counter.value


# ---------------------------------------------------------------- after training: listen, generate, keep

def wav(player) -> bool: return bytes(player.value[:4]) == b"RIFF" and len(player.value) > 1000


def test_a_finished_model_plays_back_a_training_and_an_unseen_file_at_once(demo_corpus, tmp_path):
    dash = dashboard(demo_corpus, tmp_path / "heard.distill", epochs=1)   # preview_every=10: no preview during training
    assert dash.after_box.layout.display == "none" and dash.open_generator_button.disabled
    run(dash.start_button, dash)
    assert "Finished 1 epoch:" in dash.status.value                   # not "1 epochs"
    assert dash.after_box.layout.display != "none" and dash.preview_box.layout.display == "none"
    for kind, (label, original, reconstruction) in dash.heard.items():
        assert wav(original) and wav(reconstruction), kind
        assert len(original.value) == len(reconstruction.value)        # reconstruct keeps the length
        assert dash.heard_rows[kind].layout.display != "none"
    train, val = (dash.heard[k][0].value for k in ("training", "unseen"))
    assert "training file" in train and "unseen file" in val
    from distill.data import split_files
    train_files, val_files = split_files(dash.scan.files, 0.1, 0)
    assert Path(train_files[0]).name in train and Path(val_files[0]).name in val
    import soundfile as sf   # the players show their length in seconds (a browser's own player reads "0:00" under a second)
    assert dash.heard["training"][1].seconds == pytest.approx(min(sf.info(train_files[0]).duration, 10.0), abs=1e-3)
    assert dash.library_name.value == "heard"
    assert not dash.open_generator_button.disabled and not dash.add_library_button.disabled


def test_the_unseen_file_field_picks_the_file_and_a_bad_one_says_why(demo_corpus, tmp_path):
    outside = tmp_path / "outside.wav"
    shutil.copy(sorted(demo_corpus.iterdir())[0], outside)
    dash = dashboard(demo_corpus, tmp_path / "u.distill", epochs=1)
    dash.unseen_file.value = str(outside)
    run(dash.start_button, dash)
    label, original, reconstruction = dash.heard["unseen"]
    assert "outside.wav" in label.value and wav(original) and wav(reconstruction)
    dash.unseen_file.value = str(tmp_path / "nowhere.wav")
    dash.show_trained(dash.trained_path)                              # the preview again, with the new field
    label, original, reconstruction = dash.heard["unseen"]
    assert "nowhere.wav" in label.value and "distill-status-error" in label.value and original.value == b""
    assert wav(dash.heard["training"][1])


def test_open_in_the_generator_and_add_to_library(demo_corpus, tmp_path, monkeypatch):
    from distill.library import Library
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "home"))
    path = tmp_path / "kept.distill"
    dash = dashboard(demo_corpus, path, epochs=1)
    run(dash.start_button, dash)
    dash.open_generator_button.click()
    assert dash.generator is not None and dash.generator.model.path == path
    assert dash.generator.widget in dash.generator_box.children and dash.generator_box in dash.widget.children
    assert "no prior yet" in dash.after_status.value                   # trained just now: the prior comes next

    dash.add_library_button.click()
    library = Library()
    assert library.root == tmp_path / "home" and "kept" in library
    assert "distill-status-ok" in dash.after_status.value and str(tmp_path / "home") in dash.after_status.value
    assert library.load("kept").config.hidden == 32
    dash.add_library_button.click()                                    # again: the name is taken, nothing is replaced
    assert "already has a model called 'kept'" in dash.after_status.value and len(library) == 1
    dash.library_name.value = "kept again"
    dash.add_library_button.click()
    assert "kept again" in Library() and len(Library()) == 2
    dash.library_name.value = "bad/name"
    dash.add_library_button.click()
    assert "distill-status-error" in dash.after_status.value and len(Library()) == 2
