"""How close each vocoder's sound comes to the recording — Griffin-Lim and the envelope vocoder side by side — measured
with the acceptance checks' own metric (../shared/tools/audio_metrics.py).

    python bench/vocoder_quality.py --test DIR [DIR ...] [--files N] [--pad 0.05] [--model M.distill]
                                    [--long FILE --long-start 60 --long-seconds 30] [--speed] [--weights W.safetensors]
                                    [--threads 2] [--vocoders learned griffin-lim griffin-lim-unlocked] [--bare] [--json OUT.json]

For every file of every --test folder (--files N: N of them, spread evenly over the sorted list), each vocoder turns
the file's true log-mel (`audio_to_mel` of the recording as it is) into sound, and with --model also the model's
reconstruction (`DistillModel.reconstruct`: encode, quantise, decode, level match, the silence kept). With --pad S every file is
measured a second time after S seconds of leading silence (`sox IN OUT pad S 0` does the same), which is where
pre-echo shows. Printed per file and as means per set: LSD and MR-STFT (80 dB floor, three STFT sizes), RMS level
error, attack error |attack_ms − attack_ms_ref| (ms), pre-echo (dB, energy in the 3–30 ms before the original's
onset, relative to the original's there) and onset_env_db.
  --long FILE     a long recording through the codes path (encode + decode; needs --model): LSD and MR-STFT of the
                  whole excerpt and the level error of every second within 40 dB of the loudest, per vocoder
  --speed         seconds each vocoder takes to turn 10 s of spectrogram into sound (--threads torch threads)
  --bare          also Griffin-Lim with no silence kept ("griffin-lim-bare": the path before the vocoder work)
  --vocoders …    which to measure; "griffin-lim-unlocked" is Griffin-Lim with nothing held (`phase_lock_hz` 0: what
                  texture models use, and the path before steady partials were held; nbs/00_audio). The true mel
                  is turned into sound with --model's AudioParams (a texture model's hold nothing), else the defaults;
                  "griffin-lim-pghi" starts Griffin-Lim from phase gradient heap integration (bench/pghi_start.py)
  --weights W     also measure the envelope vocoder (bench/envelope_vocoder.py) with these weights
                  (bench/train_vocoder.py export writes them; Distill ships none: nbs/00b_vocoder.ipynb says why)
Real recordings for it: ../shared/ENVIRONMENT.md ("Real recordings"); the issue's unseen kits are
ColomboAcousticDrumkit, Millo_MultiLayered2, "Gimme A Hand 1.0" and VariBreaks. Figures: nbs/00b_vocoder.ipynb."""
import argparse, contextlib, json, sys, tempfile, time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reconstruction_quality import audio_files, load_metrics, too_short_for_metric  # noqa: E402

import envelope_vocoder  # noqa: E402
import pghi_start  # noqa: E402
import distill.audio  # noqa: E402
from distill.audio import AudioParams, audio_to_mel, fit_length, load_audio, mel_to_audio, write_audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MEASURES = ("lsd_db", "mrstft", "level_err_db", "attack_err_ms", "pre_echo_db", "onset_env_db")


def measure(metrics, original: Path, test: Path) -> dict:
    "What `audio_metrics.py ORIGINAL TEST` prints, plus the attack error |attack_ms − attack_ms_ref|."
    a, b = metrics.load_raw(str(original)), metrics.load_raw(str(test))
    na, nb = a / (np.abs(a).max() + 1e-9), b / (np.abs(b).max() + 1e-9)
    m = {**metrics.compare(na, nb), **metrics.levels(a, b), **metrics.transients(na, nb)}
    if "attack_ms" in m: m["attack_err_ms"] = abs(m["attack_ms"] - m["attack_ms_ref"])
    return m


def spread(files: list, n: int | None) -> list:
    "`n` of `files`, evenly spread over the sorted list (all of them when `n` is None or larger)."
    if not n or n >= len(files): return files
    return [files[round(i * (len(files) - 1) / max(n - 1, 1))] for i in range(n)]


VOCODERS = ("learned", "griffin-lim", "griffin-lim-unlocked", "griffin-lim-pghi")
LEARNED = {}     # the envelope vocoder, loaded from --weights


@contextlib.contextmanager
def using_vocoder(name: str):
    """Within the block, every spectrogram → sound path of Distill (they all go through `mel_to_audio`) uses `name`:
    "griffin-lim" as the package has it (Griffin-Lim with sound only where the spectrogram allows it, then
    `keep_silence`), "griffin-lim-bare" with no silence kept anywhere (the path before issue 26), "griffin-lim-unlocked"
    with nothing held (`phase_lock_hz` 0: the path before steady low partials were held), "learned" the envelope
    vocoder of --weights in Griffin-Lim's place (then `keep_silence`), "griffin-lim-pghi" Griffin-Lim started from
    phase gradient heap integration (bench/pghi_start.py)."""
    saved = distill.audio.griffin_lim, distill.audio.silence_gain
    if name == "griffin-lim-bare": distill.audio.silence_gain = lambda *a, **k: None
    elif name == "griffin-lim-unlocked":
        distill.audio.griffin_lim = lambda mel, p, n_iter=None, seed=0, support=None: saved[0](mel, replace(p, phase_lock_hz=0.0), n_iter, seed, support)
    elif name == "griffin-lim-pghi": distill.audio.griffin_lim = pghi_start.griffin_lim_pghi
    elif name == "learned":
        distill.audio.griffin_lim = lambda mel, p, n_iter=None, seed=0, support=None: envelope_vocoder.envelope_vocoder_waveform(LEARNED["net"], mel, p, n_iter, seed)
    elif name != "griffin-lim": raise ValueError(f"unknown vocoder {name!r}")
    try: yield
    finally: distill.audio.griffin_lim, distill.audio.silence_gain = saved


def sounds_of(x: torch.Tensor, p: AudioParams, model, vocoders) -> dict:
    "Each of `vocoders`' sound of `x`: from its true mel, and (with a model) from the model's reconstruction."
    mel, out = audio_to_mel(x, p), {}
    for name in vocoders:
        with using_vocoder(name):
            out[name] = fit_length(mel_to_audio(mel, p), len(x))
            if model is not None: out[f"model+{name}"] = fit_length(model.reconstruct(x), len(x))
    return out


def line(rows: list[dict], who: str) -> str:
    "One vocoder's means over `rows`."
    mean = lambda k, f=lambda v: v: np.mean([f(r[who][k]) for r in rows if k in r[who]]) if any(k in r[who] for r in rows) else float("nan")
    return (f"{who:<20} LSD {mean('lsd_db'):5.2f}  MR-STFT {mean('mrstft'):5.3f}  |level| {mean('level_err_db', abs):5.2f} dB  "
            f"attack err {mean('attack_err_ms'):5.2f} ms  pre-echo {mean('pre_echo_db'):+6.1f} dB  onset env {mean('onset_env_db'):5.2f} dB")


def measure_set(metrics, files, p, model, vocoders, work: Path, label: str, pad: float) -> list[dict]:
    rows = []
    print(f"{label}", flush=True)
    for f in files:
        x, _ = load_audio(f, p.sample_rate)
        if pad: x = torch.cat([torch.zeros(round(pad * p.sample_rate)), x])
        if too_short_for_metric(len(x), p.sample_rate):
            print(f"  {f.name[:40]:<40} skipped: {len(x) / p.sample_rate * 1000:.0f} ms is too short for the metric"); continue
        write_audio(work / "orig.wav", x, p.sample_rate, "float")
        row = dict(set=label, file=f.name)
        for who, y in sounds_of(x, p, model, vocoders).items():
            write_audio(work / "test.wav", y, p.sample_rate, "float")
            row[who] = measure(metrics, work / "orig.wav", work / "test.wav")
        rows.append(row)
        print(f"  {f.name[:40]:<40} " + "  |  ".join(
            f"{who}: LSD {m['lsd_db']:.2f} MR {m['mrstft']:.3f} lvl {m['level_err_db']:+.1f} att {m.get('attack_err_ms', float('nan')):.1f} "
            f"pre {m.get('pre_echo_db', float('nan')):+.0f}" for who, m in row.items() if isinstance(m, dict)), flush=True)
    whos = [k for k in rows[0] if isinstance(rows[0][k], dict)] if rows else []
    print(f"  means over {len(rows)} files:")
    for who in whos: print("    " + line(rows, who), flush=True)
    return rows


def measure_long(metrics, model, vocoders, path: Path, start: float, seconds: float, work: Path) -> dict:
    "A long recording through the codes path (encode + decode) with each vocoder: LSD, MR-STFT, level per second."
    from distill.codes import encode_audio, grid_to_audio
    p = model.audio; rate = p.sample_rate
    x = load_audio(path, rate)[0][round(start * rate): round((start + seconds) * rate)]
    write_audio(work / "orig.wav", x, rate, "float")
    rms_db = lambda v: 20 * np.log10(float(v.pow(2).mean().sqrt()) + 1e-12)
    loudest = max(rms_db(x[i * rate:(i + 1) * rate]) for i in range(len(x) // rate))
    grid, result = encode_audio(model, x), dict(file=path.name, start=start, seconds=seconds)
    for name in vocoders:
        with using_vocoder(name): y = fit_length(grid_to_audio(model, grid), len(x))
        write_audio(work / "test.wav", y, rate, "float")
        m = measure(metrics, work / "orig.wav", work / "test.wav")
        errors = [rms_db(y[i * rate:(i + 1) * rate]) - rms_db(x[i * rate:(i + 1) * rate]) for i in range(len(x) // rate)
                  if rms_db(x[i * rate:(i + 1) * rate]) > loudest - 40]
        result[name] = dict(lsd_db=m["lsd_db"], mrstft=m["mrstft"], level_err_db=m["level_err_db"], per_second_db=errors,
                            worst_abs_per_second_db=float(max(map(abs, errors))))
        print(f"long {path.name} {start:g}–{start + seconds:g} s, {name}: LSD {m['lsd_db']:.2f}  MR-STFT {m['mrstft']:.3f}  "
              f"level {m['level_err_db']:+.2f} dB  worst per-second level error {max(map(abs, errors)):.2f} dB", flush=True)
    return result


def measure_speed(p: AudioParams, vocoders, seconds: float = 10.0) -> dict:
    "Seconds each vocoder takes for `seconds` of spectrogram (a tone, chords and noise: content does not change the cost)."
    t = torch.arange(round(seconds * p.sample_rate)) / p.sample_rate
    x = 0.3 * torch.sin(2 * np.pi * 220 * t) * (1 + torch.sin(2 * np.pi * 0.5 * t)) + 0.05 * torch.randn(len(t))
    mel, out = audio_to_mel(x, p), {}
    for name in vocoders:
        with using_vocoder(name):
            mel_to_audio(mel[:, :100], p)             # built and loaded once, as in a session
            t0 = time.perf_counter(); mel_to_audio(mel, p); out[name] = time.perf_counter() - t0
        print(f"speed: {name} turns {seconds:g} s of spectrogram into sound in {out[name]:.2f} s "
              f"({torch.get_num_threads()} threads)", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test", nargs="*", default=[]); ap.add_argument("--files", type=int)
    ap.add_argument("--pad", type=float, default=0.0, help="also measure every file after this much leading silence (s)")
    ap.add_argument("--model"); ap.add_argument("--weights")
    ap.add_argument("--long"); ap.add_argument("--long-start", type=float, default=60.0); ap.add_argument("--long-seconds", type=float, default=30.0)
    ap.add_argument("--speed", action="store_true"); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--metrics", default=str(ROOT.parent / "shared" / "tools" / "audio_metrics.py"))
    ap.add_argument("--vocoders", nargs="*", choices=VOCODERS, help="default: griffin-lim, and learned with --weights")
    ap.add_argument("--bare", action="store_true", help="also Griffin-Lim with no silence kept (griffin-lim-bare)")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.set_grad_enabled(False)
    vocoders = (["griffin-lim-bare"] if a.bare else []) + (a.vocoders or (["learned", "griffin-lim"] if a.weights else ["griffin-lim"]))
    if "learned" in vocoders:
        if not a.weights: sys.exit("the learned vocoder needs --weights (bench/train_vocoder.py export writes them)")
        LEARNED["net"] = envelope_vocoder.load_vocoder(a.weights)
    metrics_path = Path(a.metrics)
    if not metrics_path.exists(): sys.exit(f"{metrics_path}: metrics script not found (pass --metrics)")
    metrics, work = load_metrics(metrics_path), Path(tempfile.mkdtemp())
    model = None
    if a.model:
        from distill.modelfile import load_model
        model = load_model(a.model)
    p = model.audio if model is not None else AudioParams()
    report = dict(sets=[], rows=[], long=None, speed=None)
    for folder in map(Path, a.test):
        files = spread(audio_files(folder), a.files)
        for pad in ([0.0, a.pad] if a.pad else [0.0]):
            label = f"{folder.name}" + (f" after {pad:g} s of silence" if pad else "")
            rows = measure_set(metrics, files, p, model, vocoders, work, label, pad)
            report["rows"] += rows
    for pad in sorted({r["set"].endswith("silence") for r in report["rows"]}):
        rows = [r for r in report["rows"] if r["set"].endswith("silence") == pad]
        if not rows: continue
        print(f"all test files{' after leading silence' if pad else ''} ({len(rows)}):")
        for who in [k for k in rows[0] if isinstance(rows[0][k], dict)]:
            print("    " + line(rows, who), flush=True)
            report["sets"].append(dict(set="all" + (" padded" if pad else ""), vocoder=who, files=len(rows),
                                       **{k: float(np.mean([r[who][k] for r in rows if k in r[who]])) for k in MEASURES},
                                       abs_level_err_db=float(np.mean([abs(r[who]["level_err_db"]) for r in rows]))))
    if a.long:
        if model is None: sys.exit("--long needs --model (it goes through the codes path)")
        report["long"] = measure_long(metrics, model, vocoders, Path(a.long), a.long_start, a.long_seconds, work)
    if a.speed: report["speed"] = measure_speed(p, vocoders)
    if a.json: Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
