"""Training throughput with 1 and 2 processes under torchrun (DistributedDataParallel; gloo on the CPU, NCCL on GPUs).

    python bench/ddp_scaling.py [--files 32] [--epochs 3] [--full] [--procs 1 2]

Prints chunks (training examples) per second per run, measured on rank 0 from the first to the last training event
(data loading and k-means initialisation included; process start-up left out). On this 2-core machine two processes share the same cores, so the
figure shows the overhead of synchronisation rather than a speed-up; on a machine with several GPUs it is the figure
users care about."""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

from distill.data import synth_demo_corpus

WORKER = Path(__file__).resolve().parents[1] / "tests" / "ddp_worker.py"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="default model size instead of the tiny one")
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    synth_demo_corpus(work / "corpus", n_files=a.files)
    for n in a.procs:
        out = work / f"run{n}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), str(WORKER),
               str(work / "corpus"), str(work / f"m{n}.distill"), str(out), str(a.epochs)] + (["--full"] if a.full else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(r.stderr[-2000:])
        rank0 = json.loads((out / "rank0.json").read_text())
        print(f"{n} process{'es' if n > 1 else ''}: {rank0['chunks'] / rank0['seconds']:.1f} chunks/s over {a.epochs} epochs "
              f"({rank0['seconds']:.1f} s in the loop, validation loss {rank0['val_loss']:.4f})")


if __name__ == "__main__":
    main()
