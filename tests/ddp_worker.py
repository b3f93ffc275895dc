"""Run by tests/test_ddp.py (and bench/ddp_scaling.py) under torchrun: a tiny RVQ-VAE training on one rank of the group.

    torchrun --nproc_per_node N tests/ddp_worker.py CORPUS MODEL.distill OUT_DIR EPOCHS [--resume] [--full]

Each rank writes OUT_DIR/rank{R}.json with its final event (codebook hash, losses) and its samples/s."""
import json, os, sys, time
from pathlib import Path

import torch

from distill.train import EpochEnd, TrainFinished, TrainParams, train_vqvae, keep_checkpoints

TINY = dict(hidden=32, latent_dim=16, codebook_size=16, codebook_dim=8, res_blocks=1)


def main():
    corpus, model, out, epochs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    resume = "--resume" in sys.argv
    torch.set_num_threads(1)
    params = TrainParams(epochs=epochs, batch_size=8, min_steps_per_epoch=4, augment=False, preview_every=0, seed=0)
    t0, chunks, epochs_seen, last = time.time(), 0, [], None
    sizes = {} if "--full" in sys.argv else TINY   # --full: the default configuration
    with keep_checkpoints():   # the tests resume finished runs with more epochs
        for e in train_vqvae(corpus, model, params=params, resume=resume, **sizes):
            if isinstance(e, EpochEnd):
                chunks += e.extra["chunks"]; epochs_seen.append(e.epoch)
            last = e
    assert isinstance(last, TrainFinished)
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", "0"))
    (out / f"rank{rank}.json").write_text(json.dumps(dict(
        last.to_json(), epochs_seen=epochs_seen, seconds=time.time() - t0, chunks=chunks)))


if __name__ == "__main__":
    main()
