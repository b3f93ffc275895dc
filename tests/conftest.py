import os, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1)


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    "Eight synthesised one-shots, shared by the whole session (read-only)."
    from distill.data import synth_demo_corpus
    folder = tmp_path_factory.mktemp("corpus") / "demo"
    synth_demo_corpus(folder, n_files=8, seed=0)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_corpus):
    "A tiny RVQ-VAE trained for two short epochs on the demo corpus."
    from distill.train import train_vqvae, TrainParams
    path = tmp_path_factory.mktemp("models") / "tiny.distill"
    for _ in train_vqvae(demo_corpus, path, params=TrainParams(epochs=2, batch_size=8, min_steps_per_epoch=3, augment=False), **TINY):
        pass
    return path


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    "Tiny tensors: one thread is as fast, and on a busy 2-core machine OpenMP threads would wait for each other."
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_library(tmp_path, monkeypatch):
    "Never touch the user's real library from a test."
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "library_home"))
