"""Training under torchrun with two CPU processes (gloo): the same loop, codebooks identical on every rank."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

from distill.modelfile import load_model, read_metadata
from distill.train import checkpoint_path

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def torchrun(n, *args, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return subprocess.run([*TORCHRUN, "--nproc_per_node", str(n), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def ranks(folder):
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("rank*.json"))]


def test_two_processes_match_one_and_agree_on_codebooks(demo_corpus, tmp_path):
    r = torchrun(1, WORKER, demo_corpus, tmp_path / "one.distill", tmp_path / "one", 2)
    assert r.returncode == 0, r.stderr[-3000:]
    r = torchrun(2, WORKER, demo_corpus, tmp_path / "two.distill", tmp_path / "two", 2)
    assert r.returncode == 0, r.stderr[-3000:]
    (one,), (r0, r1) = ranks(tmp_path / "one"), ranks(tmp_path / "two")
    # every rank ends with the same codebooks; only rank 0 reports epochs and writes files
    assert r0["codebook_hash"] == r1["codebook_hash"] and r0["processes"] == 2
    assert r0["epochs_seen"] == [1, 2] and r1["epochs_seen"] == []
    assert sorted(p.name for p in tmp_path.glob("two.distill*")) == ["two.distill", "two.distill.ckpt"]
    # same global batches and seed → nearly the same losses as one process
    assert abs(r0["val_loss"] - one["val_loss"]) / one["val_loss"] < 0.05, (r0["val_loss"], one["val_loss"])
    model = load_model(tmp_path / "two.distill")
    assert model.training["processes"] == 2 and len(model.metrics["levels"]) == 3


def test_two_process_run_resumes_from_its_checkpoint(demo_corpus, tmp_path):
    out = tmp_path / "m.distill"
    assert torchrun(2, WORKER, demo_corpus, out, tmp_path / "a", 1).returncode == 0
    assert read_metadata(checkpoint_path(out))["extra"]["epoch"] == 1
    r = torchrun(2, WORKER, demo_corpus, out, tmp_path / "b", 3, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    r0, r1 = ranks(tmp_path / "b")
    assert r0["epochs_seen"] == [2, 3] and r0["epochs_run"] == 3
    assert r0["codebook_hash"] == r1["codebook_hash"]


def test_cli_under_torchrun_writes_a_model_that_loads(demo_corpus, tmp_path):
    out = tmp_path / "cli.distill"
    r = torchrun(2, "-m", "distill.cli", "train", demo_corpus, "-o", out, "--epochs", "1", "--batch-size", "8",
                 "--codebook-size", "16", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)              # one JSON object: only rank 0 printed
    assert summary["processes"] == 2 and summary["model"] == str(out)
    assert r.stderr.count("epoch 1/1") == 1     # progress shown once
    assert load_model(out).config.codebook_size == 16


def test_bad_input_under_torchrun_is_reported_once(tmp_path):
    r = torchrun(2, "-m", "distill.cli", "train", tmp_path / "nowhere", "-o", tmp_path / "m.distill")
    assert r.returncode != 0
    assert r.stderr.count("dataset folder not found") == 1


def test_prior_trains_under_torchrun(tiny_model, demo_corpus, tmp_path):
    model = tmp_path / "m.distill"
    model.write_bytes(Path(tiny_model).read_bytes())
    r = torchrun(2, "-m", "distill.cli", "train-prior", model, demo_corpus, "--epochs", "2", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["stage"] == "prior" and summary["epochs_run"] == 2
    assert r.stderr.count("epoch 2/2") == 1
    loaded = load_model(model)
    assert loaded.prior is not None and loaded.prior_metrics["epochs_run"] == 2
