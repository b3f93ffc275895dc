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
    args = ["--duration", "1.5", "--seed", "3", "--count", "2", "--sample-rate", "22050", "--json"]
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "a.wav", *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [Path(f["path"]).name for f in out["files"]] == ["a_1.wav", "a_2.wav"]
    assert [f["seed"] for f in out["files"]] == [3, 4]
    x1, sr = sf.read(str(tmp_path / "a_1.wav"))
    assert sr == 22050 and abs(len(x1) / sr - 1.5) < 0.05 and np.abs(x1).max() > 1e-3
    r = run_cli("generate", model_with_prior, "-o", tmp_path / "b.wav", *args)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a_1.wav").read_bytes() == (tmp_path / "b_1.wav").read_bytes()   # same seed → same file
    assert (tmp_path / "a_1.wav").read_bytes() != (tmp_path / "a_2.wav").read_bytes()   # different seeds differ


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
    assert all(abs(len(x) / 44100 - 0.5) < 0.01 and np.abs(x).max() > 1e-3 for x in sounds)   # real, audible sounds
    assert not np.array_equal(sounds[0], sounds[1])                                            # different seeds
    assert "training the RVQ-VAE on 6 files" in r.stderr and "training the prior" in r.stderr
    assert "demo finished" in r.stderr and "Traceback" not in r.stderr
    from distill.modelfile import load_model
    assert load_model(out["model"]).prior is not None
