"""A training time announced before training starts, and `--minutes` (issue 27): the CLI says how long the epochs will
take before the first one, and a run sized in minutes trains the epochs that fit. Figures are checked for being there
and for their arithmetic, never against the clock (machines are noisy)."""
import json, re, subprocess, sys

from distill.modelfile import read_metadata

CLI = [sys.executable, "-m", "distill.cli"]
ESTIMATE = re.compile(r"  about \d+ (s|min) on this machine \((\d+) epochs? × (\d+) steps, [\d.e+-]+ s a step\)")


def run_cli(*args, timeout=600):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def announced(stderr: str) -> tuple[int, int]:
    "The estimate line's epochs and steps, after checking that it comes before the first epoch's line."
    lines = stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if ESTIMATE.fullmatch(line))
    assert at < next(i for i, line in enumerate(lines) if line.startswith("epoch ")), stderr
    m = ESTIMATE.fullmatch(lines[at])
    return int(m.group(2)), int(m.group(3))


def test_train_announces_its_time_and_minutes_size_both_stages(demo_corpus, tmp_path):
    out, minutes = tmp_path / "m.distill", 0.1
    r = run_cli("train", demo_corpus, "-o", out, "--minutes", minutes, "--batch-size", "4", "--codebook-size", "16", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    epochs, steps = announced(r.stderr)
    summary = json.loads(r.stdout)
    assert summary["epochs_run"] == epochs >= 1 and steps >= 1 and f"epoch {epochs}/{epochs}" in r.stderr
    assert summary["seconds"] > 0 and summary["estimate_seconds"] > 0
    assert summary["estimate_seconds"] <= 60 * minutes or epochs == 1    # the epochs chosen fit the time (one at least)
    training = read_metadata(out)["training"]
    assert (training["minutes"], training["epochs"]) == (minutes, epochs)   # the schedule's epochs, stored

    r = run_cli("train-prior", out, demo_corpus, "--minutes", minutes, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    epochs, _ = announced(r.stderr)
    summary = json.loads(r.stdout)
    assert summary["epochs_run"] == epochs >= 1 and summary["seconds"] > 0
    assert summary["estimate_seconds"] <= 60 * minutes or epochs == 1
    assert read_metadata(out)["prior_training"]["epochs"] == epochs


def test_epochs_announce_their_time_too_and_exclude_minutes(demo_corpus, tmp_path):
    r = run_cli("train", demo_corpus, "-o", tmp_path / "m.distill", "--epochs", "1", "--batch-size", "4", "--codebook-size", "16")
    assert r.returncode == 0, r.stderr[-3000:]
    assert announced(r.stderr)[0] == 1
    r = run_cli("train", demo_corpus, "-o", tmp_path / "n.distill", "--epochs", "3", "--minutes", "1")
    assert r.returncode == 2 and "argument --minutes: not allowed with argument --epochs" in r.stderr, r.stderr
    r = run_cli("train-prior", tmp_path / "m.distill", demo_corpus, "--minutes", "0")
    assert r.returncode == 2 and "argument --minutes: must be a positive number, got 0" in r.stderr, r.stderr


def test_minutes_under_torchrun_every_process_trains_the_same_epochs(demo_corpus, tmp_path):
    "Every process measures and all use the same figures, so they choose the same epochs (else the run would hang)."
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "distill.cli",
                        "train", str(demo_corpus), "-o", str(tmp_path / "m.distill"), "--minutes", "0.1", "--batch-size", "8",
                        "--codebook-size", "16", "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    epochs, _ = announced(r.stderr)
    summary = json.loads(r.stdout)                      # rank 0's
    assert summary["processes"] == 2 and summary["epochs_run"] == epochs


def test_a_run_nobody_sized_stays_within_the_default_steps(demo_corpus, tmp_path, monkeypatch):
    "No --epochs, no --minutes: `DEFAULT_EPOCHS`, fewer where a long collection would take more than `DEFAULT_MAX_STEPS` steps."
    import distill.train as t
    monkeypatch.setattr(t, "DEFAULT_MAX_STEPS", 45)   # a tiny corpus standing in for an hour of audio
    params = t.TrainParams(batch_size=4, preview_every=0)
    assert params.epochs is None
    events = list(t.train_vqvae(demo_corpus, tmp_path / "m.distill", params=params, codebook_size=16))
    started = next(e for e in events if isinstance(e, t.TrainStarted))
    assert started.epochs == 45 // started.steps_per_epoch < t.DEFAULT_EPOCHS and started.epochs >= 1
    assert events[-1].epochs_run == started.epochs
    assert read_metadata(tmp_path / "m.distill")["training"]["epochs"] == started.epochs   # stored: a resumed run keeps them
