"""What the `distill` command leaves behind and says about it: resume checkpoints after a finished run, and a library
search that knows what a model was trained on."""
import json
from pathlib import Path

import pytest

from distill import cli


def distill(capsys, *args) -> tuple[int, str, str]:
    "Run `distill ARGS` in this process: (exit status, stdout, stderr)."
    status = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def beside(model: Path) -> list[str]:
    "The files next to `model` that belong to it (the model file and anything named after it)."
    return sorted(p.name for p in model.parent.glob(model.name + "*"))


def test_a_finished_train_leaves_only_the_model(demo_corpus, tmp_path, capsys):
    model = tmp_path / "drums.distill"
    status, _, err = distill(capsys, "train", demo_corpus, "-o", model, "--epochs", "1", "--batch-size", "4", "--codebook-size", "16")
    assert status == 0, err
    assert beside(model) == ["drums.distill"], beside(model)        # no 20 MB checkpoint beside a 2.5 MB model
    assert err.strip().splitlines()[-1].startswith(f"saved {model}") and "checkpoint" not in err
    status, out, _ = distill(capsys, "info", model, "--json")
    assert status == 0 and json.loads(out)["checkpoints"] == []


@pytest.fixture(scope="module")
def trained_prior(tmp_path_factory, tiny_model, demo_corpus):
    "A copy of the session's tiny model given a prior by `distill train-prior` (no --keep-checkpoint): (model, its stderr)."
    model = tmp_path_factory.mktemp("prior") / "m.distill"
    model.write_bytes(Path(tiny_model).read_bytes())
    return model, cli.main(["train-prior", str(model), str(demo_corpus), "--epochs", "1"])


def test_a_finished_train_prior_removes_its_checkpoint(trained_prior):
    model, status = trained_prior
    assert status == 0 and beside(model) == ["m.distill"], beside(model)


def test_keep_checkpoint_keeps_it_and_says_where(tiny_model, demo_corpus, tmp_path, capsys):
    model, checkpoint = tmp_path / "m.distill", tmp_path / "m.distill.prior.ckpt"
    model.write_bytes(Path(tiny_model).read_bytes())
    status, _, err = distill(capsys, "train-prior", model, demo_corpus, "--epochs", "1", "--keep-checkpoint")
    assert status == 0, err
    assert beside(model) == ["m.distill", "m.distill.prior.ckpt"]
    # the run's last line says where it is, how big, what it is for and that it can go
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"resume checkpoint kept: {checkpoint} (") and " MB)" in last and "delete it" in last, last
    status, out, _ = distill(capsys, "info", model)
    assert status == 0 and out.strip().splitlines()[-1] == last      # `distill info` says the same
    status, out, _ = distill(capsys, "info", model, "--json")
    assert json.loads(out)["checkpoints"] == [str(checkpoint)]


def test_library_search_finds_a_model_by_its_training_files(trained_prior, capsys):
    "A search for a word of a training file's name finds the model, however it is named, and says why."
    from distill.modelfile import load_model
    model, _ = trained_prior
    status, _, err = distill(capsys, "library", "add", model, "--name", "untitled")
    assert status == 0, err
    first = load_model(model).prior_training["corpus_files"][0]
    word = Path(first).stem.split("_")[0]                            # the demo corpus names its files kick_000.wav, …
    status, out, _ = distill(capsys, "library", "search", word)
    lines = out.strip().splitlines()
    assert status == 0 and lines[0].startswith("untitled ") and f"training file {first}" in lines[1], out
    status, out, _ = distill(capsys, "library", "search", word, "--json")
    assert [m for m in json.loads(out)[0]["matched"] if m.startswith("training file")] == [f"training file {first}"]


def test_a_cancelled_run_still_keeps_its_checkpoint_for_resume(demo_corpus, tmp_path):
    "Only a finished run removes it: a cancelled one needs it to go on (the loop's guarantee, seen from the core)."
    import threading
    from distill.train import EpochEnd, TrainParams, checkpoint_path, train_vqvae
    cancel, model = threading.Event(), tmp_path / "c.distill"
    for e in train_vqvae(demo_corpus, model, params=TrainParams(epochs=3, batch_size=8, min_steps_per_epoch=2, augment=False), cancel=cancel,
                         hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1):
        if isinstance(e, EpochEnd): cancel.set()
    assert e.cancelled and e.checkpoint_path == checkpoint_path(model) and checkpoint_path(model).exists()
    resumed = list(train_vqvae(demo_corpus, model, params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=2, augment=False), resume=True))
    assert not resumed[-1].cancelled and resumed[-1].checkpoint_path is None and not checkpoint_path(model).exists()
