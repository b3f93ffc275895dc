"""The `distill` command for stage 2, codes and the library: each command end to end in a subprocess, as a user runs it."""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

CLI = [sys.executable, "-m", "distill.cli"]


def run_cli(*args, env=None, timeout=600):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def model_with_prior(tmp_path_factory, tiny_model, demo_corpus):
    "The session's tiny model plus a tiny prior, trained through the CLI's own function."
    from distill.prior import train_prior, PriorTrainParams
    path = tmp_path_factory.mktemp("prior") / "with_prior.distill"
    path.write_bytes(Path(tiny_model).read_bytes())
    for _ in train_prior(path, demo_corpus, params=PriorTrainParams(epochs=1, min_steps_per_epoch=2, batch_size=4),
                         d_model=32, n_layers=1, n_heads=2, window=16):
        pass
    return path


def test_generate_without_prior_says_what_to_do(tiny_model, tmp_path):
    r = run_cli("generate", tiny_model, "-o", tmp_path / "x.wav")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "train-prior" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_generate_count_json_rate_and_reproducibility(model_with_prior, tmp_path):
    args = ["--duration", "1.5", "--seed", "3", "--count", "2", "--sample-rate", "22050", "--mode", "texture", "--json"]
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "a.wav", *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [Path(f["path"]).name for f in out["generated"]] == ["a_1.wav", "a_2.wav"]
    assert [f["seed"] for f in out["generated"]] == [3, 4]
    x1, sr = sf.read(str(tmp_path / "a_1.wav"))
    assert sr == 22050 and abs(len(x1) / sr - 1.5) < 0.05 and np.abs(x1).max() > 1e-3
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "b.wav", *args)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a_1.wav").read_bytes() == (tmp_path / "b_1.wav").read_bytes()   # same seed → same file
    assert (tmp_path / "a_1.wav").read_bytes() != (tmp_path / "a_2.wav").read_bytes()   # different seeds differ


def test_generate_writes_one_shots_with_a_novelty_report_by_default_for_a_kit(model_with_prior, tmp_path):
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "hit.wav", "--count", "3", "--duration", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["generated"]
    assert [Path(g["path"]).name for g in out] == ["hit_1.wav", "hit_2.wav", "hit_3.wav"]
    for g in out:
        assert g["mode"] == "one-shot" and 0 < g["seconds"] <= 2.0
        assert set(g["novelty"]) >= {"verdict", "nearest", "copied_seconds"} and g["novelty"]["verdict"] in ("new", "variation", "copy")
        x, sr = sf.read(g["path"])
        assert abs(len(x) / sr - g["seconds"]) < 0.01
    assert "one-shot" in run_cli("info", model_with_prior).stdout


def test_encode_decode_round_trip(tiny_model, demo_corpus, tmp_path):
    src = sorted(demo_corpus.glob("*.wav"))[1]
    r = run_cli("encode", src, tiny_model, "-o", tmp_path / "c.json", "--json")
    assert r.returncode == 0, r.stderr
    enc = json.loads(r.stdout)
    assert enc["levels"] == 3 and enc["columns"] > 0
    r = run_cli("decode", tmp_path / "c.json", tiny_model, "-o", tmp_path / "d.wav", "--json")
    assert r.returncode == 0, r.stderr
    x, sr = sf.read(str(src)); y, sr2 = sf.read(str(tmp_path / "d.wav"))
    assert sr2 == sr and abs(len(y) - len(x)) <= enc["seconds_per_column"] * sr + 1


def test_library_commands(tiny_model, tmp_path):
    env = {**__import__("os").environ, "DISTILL_HOME": str(tmp_path / "lib")}
    r = run_cli("library", "add", tiny_model, "--name", "drums", "--tags", "kit,acoustic", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["name"] == "drums"
    r = run_cli("library", "search", "acoustic", "--json", env=env)
    assert [e["name"] for e in json.loads(r.stdout)] == ["drums"]
    assert json.loads(r.stdout)[0]["matched"] == ["tag acoustic"]
    r = run_cli("library", "search", "acoustic", env=env)   # a search says why each hit matched
    assert "matched: tag acoustic" in r.stdout
    r = run_cli("library", "list", env=env)
    assert r.returncode == 0 and "drums" in r.stdout
    r = run_cli("library", "add", tiny_model, "--name", "../evil", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli("library", "delete", "drums", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == {"deleted": "drums"}
    r = run_cli("library", "list", "--json", env=env)
    assert json.loads(r.stdout) == []


def test_demo_runs_the_whole_pipeline_and_writes_real_sounds(tmp_path):
    "The README's first command, made small: synthesise, train, train the prior, generate, in one `distill demo`."
    r = run_cli("demo", "-o", tmp_path / "d", "--files", "6", "--epochs", "1", "--prior-epochs", "1", "--count", "2",
                "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert Path(out["model"]) == tmp_path / "d" / "demo.distill"
    assert sorted(Path(g).name for g in out["generated"]) == ["generated_1.wav", "generated_2.wav"]
    assert len(list((tmp_path / "d" / "corpus").glob("*.wav"))) == 6
    sounds = [sf.read(g)[0] for g in out["generated"]]
    # real, audible one-shots, none longer than asked (a one-shot ends where the prior's sound ends)
    assert all(0 < len(x) / 44100 <= 0.5 + 0.01 and np.abs(x).max() > 1e-3 for x in sounds)
    assert not np.array_equal(sounds[0], sounds[1])                                            # different seeds
    assert "training the RVQ-VAE on 6 files" in r.stderr and "training the prior" in r.stderr
    assert "demo finished" in r.stderr and "Traceback" not in r.stderr
    from distill.modelfile import load_model
    assert load_model(out["model"]).prior is not None


# ---------------------------------------------------------------- no silent loss: nothing is replaced without --force

PRECIOUS = b"a file the user cares about"


@pytest.fixture(scope="module")
def code_file(tmp_path_factory, tiny_model, demo_corpus):
    from distill.codes import encode_audio_file
    from distill.modelfile import load_model
    path = tmp_path_factory.mktemp("codes") / "take.codes.json"
    encode_audio_file(load_model(tiny_model), sorted(demo_corpus.glob("*.wav"))[2]).save(path)
    return path


def refused(r, path, hint="add --force to overwrite it") -> bool:
    "Exit status 2 and one line naming the file that is there."
    return r.returncode == 2 and r.stderr.strip() == f"distill: error: {path} already exists; {hint}"


@pytest.mark.parametrize("command", ["reconstruct", "encode", "decode", "generate", "info --heatmap"])
def test_an_output_that_exists_is_refused_and_force_replaces_it(command, model_with_prior, demo_corpus, code_file, tmp_path):
    src = sorted(demo_corpus.glob("*.wav"))[0]
    out = tmp_path / ("out.png" if "heatmap" in command else "out.json" if command == "encode" else "out.wav")
    args = {"reconstruct": ["reconstruct", model_with_prior, src, "-o", out],
            "encode": ["encode", src, model_with_prior, "-o", out],
            "decode": ["decode", code_file, model_with_prior, "-o", out],
            "generate": ["generate", model_with_prior, "-o", out, "--duration", "0.5"],
            "info --heatmap": ["info", model_with_prior, "--heatmap", out]}[command]
    out.write_bytes(PRECIOUS)
    r = run_cli(*args)
    assert refused(r, out), r.stderr
    assert out.read_bytes() == PRECIOUS
    r = run_cli(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() != PRECIOUS and out.stat().st_size > 100


def test_generate_a_kind_or_variations_of_a_sound(model_with_prior, demo_corpus, tmp_path):
    info = run_cli("info", model_with_prior).stdout
    assert "kinds: other 4, bell 1, closed hat 1, kick 1, snare 1" in info                  # the scan's count of each kind
    assert "generates on request: other, " in info and "snare" in info.split("generates on request:")[1]
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "s.wav", "--kind", "snare", "--count", "2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert [g["kind"] for g in json.loads(r.stdout)["generated"]] == ["snare", "snare"]
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "t.wav", "--kind", "tuba")
    assert r.returncode == 2 and "unknown kind 'tuba': this model knows other, " in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "t.wav").exists()
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "v.wav", "--like", demo_corpus / "snare_001.wav", "--count", "2",
                "--keep", "attack", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["generated"]
    assert [(g["like"], g["mode"]) for g in out] == [("snare_001.wav", "one-shot")] * 2 and all(g["novelty"] for g in out)
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "w.wav", "--like", "nothing.wav")
    assert r.returncode == 2 and "nothing.wav: no such file, and no training file of with_prior is called that" in r.stderr


def test_generate_checks_every_numbered_file_before_writing_any(model_with_prior, tmp_path):
    (tmp_path / "take_2.wav").write_bytes(PRECIOUS)
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "take.wav", "--count", "2", "--duration", "0.5")
    assert refused(r, tmp_path / "take_2.wav"), r.stderr
    assert not (tmp_path / "take_1.wav").exists() and (tmp_path / "take_2.wav").read_bytes() == PRECIOUS


def test_train_refuses_a_model_its_checkpoint_or_a_library_name_before_training(tiny_model, demo_corpus, tmp_path):
    model = tmp_path / "m.distill"
    model.write_bytes(Path(tiny_model).read_bytes())
    r = run_cli("train", demo_corpus, "-o", model)
    assert refused(r, model, "add --force to train a new model in its place"), r.stderr
    assert model.read_bytes() == Path(tiny_model).read_bytes()
    # a cancelled run leaves only its checkpoint: the name is still taken, and --resume is the way on
    (tmp_path / "c.distill.ckpt").write_bytes(PRECIOUS)
    r = run_cli("train", demo_corpus, "-o", tmp_path / "c.distill")
    assert refused(r, tmp_path / "c.distill.ckpt", "add --force to train a new model in its place or --resume to go on training it"), r.stderr
    # a library name that is taken is refused before an hour of training, not after
    from distill.library import Library
    Library().add(tiny_model, name="drums")
    r = run_cli("train", demo_corpus, "-o", tmp_path / "new.distill", "--save-to-library", "drums")
    assert r.returncode == 2 and "already has a model called 'drums'; add --force" in r.stderr, r.stderr
    assert not (tmp_path / "new.distill").exists()


def test_train_with_force_goes_ahead_and_resume_needs_no_force(tiny_model, demo_corpus, tmp_path, monkeypatch):
    "In process, training stubbed (a real run is test_foundation's): the check lets `--force` and `--resume` through."
    import distill.train
    from distill.cli import main
    calls = []
    monkeypatch.setattr(distill.train, "train_vqvae", lambda dataset, output, resume=False, **kw: calls.append((output, resume)) or iter(()))
    model = tmp_path / "m.distill"
    model.write_bytes(Path(tiny_model).read_bytes())
    assert main(["train", str(demo_corpus), "-o", str(model)]) == 2 and calls == []
    assert main(["train", str(demo_corpus), "-o", str(model), "--force"]) == 0 and calls == [(str(model), False)]
    assert main(["train", str(demo_corpus), "-o", str(model), "--resume"]) == 0 and calls[-1] == (str(model), True)


def test_demo_refuses_a_folder_with_a_previous_demo(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "demo.distill").write_bytes(PRECIOUS)
    r = run_cli("demo", "-o", tmp_path / "d", "--files", "6")
    assert refused(r, tmp_path / "d" / "demo.distill", "add --force to run the demo there again, or -o another folder"), r.stderr
    assert not (tmp_path / "d" / "corpus").exists() and (tmp_path / "d" / "demo.distill").read_bytes() == PRECIOUS
    (tmp_path / "d" / "demo.distill").unlink()
    (tmp_path / "d" / "generated_1.wav").write_bytes(PRECIOUS)          # a previous demo's sound, its model gone
    r = run_cli("demo", "-o", tmp_path / "d", "--files", "6")
    assert refused(r, tmp_path / "d" / "generated_1.wav", "add --force to run the demo there again, or -o another folder"), r.stderr
