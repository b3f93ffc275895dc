"""Speed and memory of encoding and decoding code grids with a full-size (default configuration) model.

Prints the real-time factor of encode, decode before Griffin-Lim, and decode with Griffin-Lim for a 60 s file, and
the peak memory of encoding / decoding 10 s vs 10 min of audio (each measured in a fresh process).

    python bench/codes_speed.py [--threads 2] [--seconds 60] [--long-seconds 600]

Speed does not depend on training, so the model is the default architecture with k-means-initialised codebooks.
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import soundfile as sf


def make_model(codebook_size: int = 128):
    "A default-configuration DistillModel whose codebooks were initialised by k-means on random spectra."
    import torch
    from distill.audio import AudioParams
    from distill.model import VQVAE, VQVAEConfig
    from distill.modelfile import DistillModel
    torch.manual_seed(0)
    vqvae = VQVAE(VQVAEConfig(codebook_size=codebook_size))
    vqvae.train(); vqvae(torch.randn(4, 256, 256) * 0.3 - 0.5); vqvae.eval()
    return DistillModel(vqvae, AudioParams())


def write_test_file(path: Path, seconds: float, rate: int = 44100, block_seconds: float = 10.0):
    "A stereo test recording (tones with decaying envelopes over a little noise), written block by block."
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16") as f:
        done, total = 0, int(seconds * rate)
        while done < total:
            n = min(int(block_seconds * rate), total - done)
            t = (done + np.arange(n)) / rate
            beat = np.exp(-6 * (t % 0.5))
            tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * np.floor(t % 4)) * t) * beat
            noise = 0.02 * rng.standard_normal(n)
            f.write(np.stack([tone + noise, 0.8 * tone + noise], 1).astype(np.float32))
            done += n


def timed(fn, repeats: int = 3):
    "Best wall time over `repeats` calls, and the last result."
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter(); result = fn(); best = min(best, time.perf_counter() - t0)
    return best, result


def speed(seconds: float, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    from distill.codes import encode_audio_file, decode_grid, grid_to_audio
    model = make_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wav"
        write_test_file(path, seconds)
        encode_audio_file(model, path)  # warm-up (receptive-field probe, kernels)
        t_enc, grid = timed(lambda: encode_audio_file(model, path))
        t_dec, _ = timed(lambda: decode_grid(model, grid))
        t_gl, audio = timed(lambda: grid_to_audio(model, grid), repeats=1)
    return dict(seconds=seconds, threads=threads, columns=grid.columns,
                encode_x_realtime=seconds / t_enc, decode_mel_x_realtime=seconds / t_dec,
                encode_plus_decode_mel_x_realtime=seconds / (t_enc + t_dec),
                decode_with_griffin_lim_x_realtime=seconds / t_gl,
                encode_s=t_enc, decode_mel_s=t_dec, decode_with_griffin_lim_s=t_gl)


def _status_mb(field: str) -> float:
    "A memory figure of this process from /proc/self/status (VmRSS now, VmHWM peak), in MB."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: peak since start

def _reset_peak():
    "Start a new peak-memory measurement (Linux: writing 5 to clear_refs resets VmHWM)."
    try: Path("/proc/self/clear_refs").write_text("5")
    except OSError: pass


def memory_child(path: str, what: str, threads: int) -> dict:
    "Runs in a fresh process: peak resident memory before and after one encode (or decode) of `path`."
    import torch
    torch.set_num_threads(threads)
    from distill.codes import encode_audio_file, encode_audio, decode_grid, grid_to_audio
    model = make_model()
    # warm up on one second of audio so that one-off allocations are in the baseline
    warm = encode_audio(model, torch.zeros(44100) + 0.01)
    decode_grid(model, warm)
    grid = encode_audio_file(model, path) if what != "encode" else None
    _reset_peak()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if what == "encode": out = encode_audio_file(model, path); out_mb = out.indices.numel() * 8 / 2**20
    elif what == "decode_mel": out = decode_grid(model, grid); out_mb = out.numel() * 4 / 2**20
    else: out = grid_to_audio(model, grid); out_mb = out.numel() * 4 / 2**20
    return dict(what=what, baseline_mb=before, peak_mb=_status_mb("VmHWM"), output_mb=out_mb, seconds=time.perf_counter() - t0)


MEASURED = ("encode", "decode_mel", "decode_with_griffin_lim")

def memory(durations: list[float], threads: int, measured=MEASURED) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in durations:
            path = Path(tmp) / f"{seconds:.0f}s.wav"
            write_test_file(path, seconds)
            for what in measured:
                out = subprocess.run([sys.executable, __file__, "--memory-child", str(path), what, "--threads", str(threads)],
                                     capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                row.update(audio_seconds=seconds, growth_mb=row["peak_mb"] - row["baseline_mb"])
                rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the speed test file")
    ap.add_argument("--short-seconds", type=float, default=10.0)
    ap.add_argument("--long-seconds", type=float, default=600.0)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-of", nargs="+", choices=MEASURED, default=list(MEASURED), help="what to measure the memory of")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--memory-child", nargs=2, metavar=("PATH", "WHAT"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.memory_child:
        print(json.dumps(memory_child(*a.memory_child, a.threads))); return
    s = speed(a.seconds, a.threads)
    print(f"{s['seconds']:.0f} s file ({s['columns']} columns), {a.threads} threads, default model:")
    print(f"  encode                      {s['encode_x_realtime']:7.0f}× real time ({s['encode_s']:.3f} s)")
    print(f"  decode before Griffin-Lim   {s['decode_mel_x_realtime']:7.0f}× real time ({s['decode_mel_s']:.3f} s)")
    print(f"  encode + decode (no GL)     {s['encode_plus_decode_mel_x_realtime']:7.0f}× real time")
    print(f"  decode with Griffin-Lim     {s['decode_with_griffin_lim_x_realtime']:7.1f}× real time ({s['decode_with_griffin_lim_s']:.2f} s)")
    result = dict(speed=s)
    if not a.skip_memory:
        rows = memory([a.short_seconds, a.long_seconds], a.threads, a.memory_of)
        print("peak resident memory (fresh process per row; growth = peak during the call − resident before it):")
        for r in rows:
            print(f"  {r['what']:<24} {r['audio_seconds']:6.0f} s audio: peak {r['peak_mb']:7.0f} MB, growth {r['growth_mb']:6.0f} MB "
                  f"(of which output {r['output_mb']:.0f} MB), {r['seconds']:.1f} s")
        result["memory"] = rows
    if a.json: print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
