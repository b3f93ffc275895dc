"""Stage 2, the prior: training lowers validation loss, memorisation is flagged, the prior lives in the model file,
re-training replaces it, and cancel + resume continue exactly where the run stopped."""
import math, threading
from pathlib import Path

import pytest
import torch

from distill.audio import AudioParams
from distill.data import synth_demo_corpus
from distill.modelfile import ModelFileError, load_model, read_metadata, read_tensors, save_model
from distill.prior import (MemorisationWarning, Prior, PriorConfig, PriorTrainParams, auto_prior_config,
                           prior_checkpoint_path, train_prior)
from distill.train import CheckpointSaved, EpochEnd, TrainFinished, TrainParams, TrainStarted, TrainWarning, train_vqvae

SMALL_AUDIO = AudioParams(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, griffin_lim_iters=16)
TINY_VQVAE = dict(hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1)
TINY_PRIOR = dict(d_model=32, n_layers=1, n_heads=2, window=16, dropout=0.0)


def tiny_vqvae(folder: Path, n_files: int) -> tuple[Path, Path]:
    "A synthesised corpus and a tiny RVQ-VAE trained on it (small audio settings keep it fast)."
    synth_demo_corpus(folder / "demo", n_files=n_files)
    path = folder / "model.distill"
    for _ in train_vqvae(folder / "demo", path, params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False),
                         audio=SMALL_AUDIO, **TINY_VQVAE):
        pass
    return folder / "demo", path


def prior_params(**kw) -> PriorTrainParams:
    return PriorTrainParams(**{**dict(epochs=4, batch_size=8, lr=3e-3, min_steps_per_epoch=4, device="cpu"), **kw})


@pytest.fixture(scope="module")
def corpus_and_model(tmp_path_factory):
    "24 files (three of each synthesised kind, so validation sounds have relatives in training) and a tiny RVQ-VAE."
    return tiny_vqvae(tmp_path_factory.mktemp("prior"), 24)


@pytest.fixture(scope="module")
def trained(corpus_and_model, tmp_path_factory):
    "A copy of the model with a prior trained for a few epochs, and the events of that run."
    corpus, path = corpus_and_model
    copy = tmp_path_factory.mktemp("trained") / "with_prior.distill"
    copy.write_bytes(path.read_bytes())
    events = list(train_prior(copy, corpus, prior_params(epochs=6), **TINY_PRIOR))
    return corpus, path, copy, events


def test_training_lowers_validation_loss(trained):
    *_, events = trained
    assert isinstance(events[0], TrainStarted) and events[0].stage == "prior"
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, 7))
    assert all(e.stage == "prior" and e.levels == [] for e in epochs)
    assert epochs[-1].val_loss < epochs[0].val_loss
    # better than knowing nothing (uniform over 16 codes)
    assert min(e.val_loss for e in epochs) < 0.8 * math.log(16)
    for e in epochs:
        assert e.extra["val_perplexity"] == pytest.approx(math.exp(e.val_loss))
        assert e.extra["train_perplexity"] == pytest.approx(math.exp(e.train_loss))
        assert len(e.extra["val_perplexity_levels"]) == 3
    end = events[-1]
    assert isinstance(end, TrainFinished) and not end.cancelled
    assert end.val_loss == min(e.val_loss for e in epochs)             # the best state is what was kept
    assert end.extra["val_perplexity"] == pytest.approx(math.exp(end.val_loss))


def test_prior_is_stored_in_the_same_file_and_vqvae_untouched(trained):
    _, original, copy, events = trained
    before, after = read_metadata(original), read_metadata(copy)
    assert {k: after[k] for k in before} == before                     # every VQ-VAE field unchanged
    assert after["prior_config"]["d_model"] == 32
    assert after["prior_metrics"]["best_epoch"] == events[-1].best_epoch
    vq_before, vq_after = read_tensors(original, "vqvae."), read_tensors(copy, "vqvae.")
    assert vq_before.keys() == vq_after.keys() and all(torch.equal(vq_before[k], vq_after[k]) for k in vq_before)
    model = load_model(copy)
    assert isinstance(model.prior, Prior) and not model.prior.training
    assert model.prior_training["vqvae_identity"] == model.identity
    assert model.prior_metrics["val_perplexity"] == pytest.approx(events[-1].extra["val_perplexity"])
    assert "prior: yes" in model.describe()


def test_save_model_and_load_model_round_trip_the_prior(trained, tmp_path):
    model = load_model(trained[2])
    path = save_model(model, tmp_path / "again.distill")
    again = load_model(path)
    a, b = model.prior.state_dict(), again.prior.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.prior_metrics == model.prior_metrics and again.prior_training == model.prior_training


def test_retraining_replaces_the_prior(trained, tmp_path):
    corpus, _, copy, _ = trained
    path = tmp_path / "retrain.distill"
    path.write_bytes(copy.read_bytes())
    list(train_prior(path, corpus, prior_params(epochs=1), **{**TINY_PRIOR, "d_model": 16, "n_heads": 2}))
    model = load_model(path)
    assert model.prior.config.d_model == 16
    stored = read_tensors(path, "prior.")
    assert stored.keys() == model.prior.state_dict().keys()           # no tensors left over from the old prior
    assert model.prior_training["epochs"] == 1


def test_cancel_writes_best_prior_and_resume_repeats_the_uninterrupted_run(corpus_and_model, tmp_path):
    corpus, original = corpus_and_model
    full, stopped = tmp_path / "full.distill", tmp_path / "stopped.distill"
    for p in (full, stopped): p.write_bytes(original.read_bytes())
    list(train_prior(full, corpus, prior_params(epochs=3), **TINY_PRIOR))

    cancel, events = threading.Event(), []
    for e in train_prior(stopped, corpus, prior_params(epochs=3), cancel, **TINY_PRIOR):
        events.append(e)
        if isinstance(e, EpochEnd) and e.epoch == 1: cancel.set()
    end = events[-1]
    assert end.cancelled and end.epochs_run == 1 and isinstance(events[-2], CheckpointSaved)
    assert prior_checkpoint_path(stopped).exists()
    assert load_model(stopped).prior is not None                       # the best prior so far is already usable

    resumed = list(train_prior(stopped, corpus, prior_params(epochs=3), resume=True))
    assert [e.epoch for e in resumed if isinstance(e, EpochEnd)] == [2, 3]
    assert resumed[0].start_epoch == 1 and not resumed[-1].cancelled
    a, b = load_model(full).prior.state_dict(), load_model(stopped).prior.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_memorisation_is_flagged_on_a_corpus_too_small_to_generalise(tmp_path):
    # eight files, one of each kind: the validation sound has no relative in training, and a roomier prior
    # trained longer per epoch learns the training files by heart
    corpus, path = tiny_vqvae(tmp_path, 8)
    roomy = {**TINY_PRIOR, "d_model": 64, "n_layers": 2}
    params = prior_params(epochs=12, min_steps_per_epoch=30, stop_when_memorising=True, memorisation_patience=1, memorisation_ratio=1.5)
    events = list(train_prior(path, corpus, params, **roomy))
    warnings = [e for e in events if isinstance(e, MemorisationWarning)]
    assert len(warnings) == 1 and isinstance(warnings[0], TrainWarning)
    w = warnings[0]
    assert w.stage == "prior" and "memorising" in w.message
    # the warning names what happened: validation perplexity risen above its best so far (while training kept falling),
    # or far above training perplexity — which of the two comes first depends on the machine's rounding, not on the code
    before = [e.extra["val_perplexity"] for e in events if isinstance(e, EpochEnd) and e.epoch < w.epoch]
    assert w.val_perplexity > min(before) * (1 + params.memorisation_margin) or w.val_perplexity > params.memorisation_ratio * w.train_perplexity
    end = events[-1]
    assert end.extra["stopped_early"] and end.epochs_run == w.epoch < 12
    assert end.best_epoch < w.epoch                                     # the model file got the best state, not the last
    assert load_model(path).prior_metrics["memorising"]


def test_errors_name_the_problem(corpus_and_model, tmp_path):
    corpus, path = corpus_and_model
    with pytest.raises(FileNotFoundError, match="no prior checkpoint to resume from"):
        next(train_prior(path, corpus, prior_params(), resume=True))
    (tmp_path / "junk.distill").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.distill"):
        next(train_prior(tmp_path / "junk.distill", corpus, prior_params()))
    with pytest.raises(ValueError, match="at least 50 needed"):
        next(train_prior(path, corpus, prior_params(min_files=50)))


def test_auto_config_grows_with_the_corpus():
    sizes = [auto_prior_config(n, 3, 128) for n in (10, 60, 300, 1000)]
    params = [sum(p.numel() for p in Prior(c).parameters()) for c in sizes]
    assert params == sorted(params) and params[0] < params[-1] / 3
    assert all(128 <= c.d_model <= 256 and 2 <= c.n_layers <= 4 for c in sizes)
    assert auto_prior_config(10, 4, 64, d_model=64).d_model == 64
    assert PriorConfig.from_dict(json_round_trip(sizes[1])) == sizes[1]


def json_round_trip(config):
    import json
    return json.loads(config.to_json())


def test_progress_reports_every_batch_of_every_epoch(corpus_and_model, tmp_path):
    "The `progress` callback hears the audio being read, then each epoch's batches up to the last (a bar can fill)."
    corpus, original = corpus_and_model
    path = tmp_path / "p.distill"; path.write_bytes(original.read_bytes())
    calls = []
    list(train_prior(path, corpus, prior_params(epochs=2), progress=lambda *a: calls.append(a), **TINY_PRIOR))
    training = [c for c in calls if c[0] == "training"]
    ends = [c for c in training if c[1] == c[2]]
    assert len(ends) == 2 and training[0][1] == 1 and all(c[2] == training[0][2] for c in training)
    assert any(c[0] == "reading audio" for c in calls)


def test_a_model_saved_again_keeps_its_training_codes(trained, tmp_path):
    "save_model of a loaded model (e.g. Library.save) carries the training codes the novelty report needs."
    from distill.modelfile import save_model
    from distill.novelty import stored_corpus
    _, _, copy, _ = trained
    again = tmp_path / "again.distill"
    save_model(load_model(copy), again)
    before, after = stored_corpus(load_model(copy)), stored_corpus(load_model(again))
    assert after is not None and after.names == before.names
    assert all(torch.equal(a, b) for a, b in zip(before.codes, after.codes))


def test_varied_copies_feed_training_only(corpus_and_model, tmp_path):
    "With `augment_copies`, windows come from the corpus and its varied copies; validation and the stored codes stay the corpus."
    from distill.prior import prepare_prior_data
    demo, model_path = corpus_and_model
    model = load_model(model_path)
    plain = prepare_prior_data(model, demo, prior_params())
    varied = prepare_prior_data(model, demo, prior_params(augment_copies=2))
    assert plain.practice is plain.train
    assert torch.equal(varied.train.tokens, plain.train.tokens) and torch.equal(varied.val.tokens, plain.val.tokens)
    assert len(varied.practice.starts) == 3 * len(plain.train.starts)
    assert torch.equal(varied.practice.tokens[: len(plain.train.tokens)], plain.train.tokens)
    again = prepare_prior_data(model, demo, prior_params(augment_copies=2))
    assert torch.equal(again.practice.tokens, varied.practice.tokens)             # the copies are drawn from the seed
    # …and they are new code sequences, not the corpus again
    assert not torch.equal(varied.practice.tokens[len(plain.train.tokens):][: len(plain.train.tokens)], plain.train.tokens)
    path = tmp_path / "varied.distill"; path.write_bytes(model_path.read_bytes())
    events = list(train_prior(path, demo, prior_params(augment_copies=2, epochs=2), **TINY_PRIOR))
    assert isinstance(events[-1], TrainFinished) and load_model(path).prior is not None
    stored = read_tensors(path, "corpus.")["codes"]
    assert stored.shape[-1] == plain.train.columns                                  # novelty compares with the corpus itself


def test_a_texture_corpus_is_learned_without_the_silence_between_files(corpus_and_model, tmp_path):
    "Textures are joined with no silence and marked continuous (no window across a join); one-shots keep their gap."
    import numpy as np
    from distill.audio import write_audio
    from distill.prior import prepare_prior_data, validation_windows, window_starts
    demo, model_path = corpus_and_model
    rate, rng = 16000, np.random.default_rng(0)
    t = np.arange(3 * rate) / rate
    for i in range(6):   # drones that go on as loud as they start: the scan calls them textures
        drone = np.sin(2 * np.pi * rng.uniform(100, 400) * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)) + 0.05 * rng.normal(0, 1, len(t))
        write_audio(tmp_path / "drones" / f"drone{i}.wav", 0.3 * drone, rate)
    model = load_model(model_path)
    textures, one_shots = prepare_prior_data(model, tmp_path / "drones", prior_params()), prepare_prior_data(model, demo, prior_params())
    assert textures.train.continuous and not one_shots.train.continuous
    columns = lambda seconds: math.ceil(seconds * rate / SMALL_AUDIO.hop_length / model.config.downsample)
    lengths = torch.diff(torch.tensor(textures.train.starts + [textures.train.columns])).tolist()
    assert all(abs(n - columns(3.0)) <= 1 for n in lengths), lengths                      # each file, no silence after it
    window = 16
    starts = window_starts(textures.train, window)
    ends = torch.tensor(textures.train.starts[1:] + [textures.train.columns])
    file_of = torch.searchsorted(torch.tensor(textures.train.starts), starts, right=True) - 1
    assert bool((starts + window <= ends[file_of]).all())                                 # no training window crosses a join
    assert all(any(a <= s and s + n <= b for a, b in zip(textures.val.starts, textures.val.starts[1:] + [textures.val.columns]))
               for s, n in validation_windows(textures.val, window))
    path = tmp_path / "drones.distill"; path.write_bytes(model_path.read_bytes())
    events = list(train_prior(path, tmp_path / "drones", prior_params(epochs=1), **TINY_PRIOR))
    assert isinstance(events[-1], TrainFinished)
    training = load_model(path).prior_training
    assert training["continuous"] is True and training["gap_columns"] == 0


def test_both_stages_train_in_bfloat16_when_asked(corpus_and_model, tmp_path):
    """`precision="bf16"` (what `auto` picks on a CUDA GPU that has it) runs each step's forward pass in bfloat16 on any
    device: both stages train, say so when they start, keep float32 weights and codebooks, and store the setting."""
    corpus, _ = corpus_and_model
    path = tmp_path / "bf16.distill"
    events = list(train_vqvae(corpus, path, params=TrainParams(epochs=3, batch_size=8, min_steps_per_epoch=2, augment=False,
                                                                precision="bf16"), audio=SMALL_AUDIO, **TINY_VQVAE))
    assert events[0].device == "cpu (bfloat16)"
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert all(math.isfinite(e.train_loss) and math.isfinite(e.val_loss) for e in epochs)
    assert epochs[-1].train_loss < epochs[0].train_loss   # (three tiny epochs: validation wanders, in float32 as well)
    model = load_model(path)
    assert model.training["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in model.vqvae.state_dict().values() if t.is_floating_point())
    events = list(train_prior(path, corpus, prior_params(epochs=4, precision="bf16"), **TINY_PRIOR))
    assert events[0].device == "cpu (bfloat16)"
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert epochs[-1].val_loss < epochs[0].val_loss and min(e.val_loss for e in epochs) < 0.8 * math.log(16)
    model = load_model(path)
    assert model.prior_training["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in model.prior.state_dict().values() if t.is_floating_point())


def test_an_unknown_precision_is_refused_before_any_step(corpus_and_model, tmp_path):
    corpus, _ = corpus_and_model
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        list(train_vqvae(corpus, tmp_path / "x.distill", params=TrainParams(epochs=1, batch_size=8, precision="fp16"),
                         audio=SMALL_AUDIO, **TINY_VQVAE))
