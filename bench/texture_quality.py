"""How textures come out of Distill — generated streams and reconstructions of tonal music — next to references.

    python bench/texture_quality.py [--train DIR] [--model M.distill] [--work DIR] [--count 8] [--duration 10]
                                    [--seed 1] [--kit DIR] [--battle FILE] [--threads 2] [--json OUT.json]

Without --train, builds the excerpt corpus in WORK/corpus: 30 ten-second excerpts, from 0:30, of the first
wesnoth-1.16-music tracks (sorted by name) that last at least 40 s, never `battle.ogg` (kept apart for measuring).
Without --model, trains one with the default settings exactly as a user would (`distill train`, then
`distill train-prior`, in subprocesses) and prints each stage's wall time, reading included. Then:

- **generated**: --count textures of --duration seconds (`distill generate --mode texture`, seeds --seed, --seed+1 …),
  measured with ../shared/tools/gen_metrics.py against the corpus: Fréchet distance of log-mel frames, onsets per
  second, level, and the **holes** (`gaps_per_file`, `longest_gap_s`: stretches over 0.1 s more than 40 dB under
  the file's loudest second) — next to the references: the corpus's two halves against each other (the floor),
  the model's reconstructions of 4 training excerpts, and a drum kit (--kit, default The Black Pearl 1.0: "another
  collection").
- **reconstructions** of 4 training excerpts: LSD and MR-STFT (../shared/tools/audio_metrics.py) next to Griffin-Lim
  on the excerpt's true mel (the vocoder's limit); with --plot, their spectrograms beside the originals.
- **unseen music**: 60–90 s of --battle (wesnoth's battle.ogg) through encode + decode (the codes path): LSD and
  MR-STFT next to Griffin-Lim on its true mel, and the level error of every second within 40 dB of the loudest.
Figures measured with it: nbs/06_prior.ipynb ("Textures, measured")."""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reconstruction_quality import ROOT, audio_files, load_metrics, measure, measure_long  # noqa: E402

from distill.audio import fit_length, load_audio, mel_to_audio, write_audio  # noqa: E402
from distill.codes import encode_audio, grid_to_audio  # noqa: E402
from distill.modelfile import load_model  # noqa: E402

MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
KEPT_APART = "battle.ogg"
KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")
GEN_METRICS = ROOT.parent / "shared" / "tools" / "gen_metrics.py"
AUDIO_METRICS = ROOT.parent / "shared" / "tools" / "audio_metrics.py"
DISTILL = Path(sys.executable).with_name("distill")


def excerpt_corpus(out: Path, count: int = 30, start: float = 30.0, seconds: float = 10.0, shortest: float = 40.0) -> list[Path]:
    "`count` excerpts of `seconds` from `start` of the first wesnoth tracks at least `shortest` seconds long (never battle.ogg)."
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for track in sorted(MUSIC.glob("*.ogg")):
        if len(paths) == count: break
        if track.name == KEPT_APART: continue
        info = sf.info(str(track))
        if info.duration < shortest: continue
        x, rate = sf.read(str(track), start=round(start * info.samplerate), frames=round(seconds * info.samplerate), always_2d=True)
        path = out / f"{track.stem}.wav"
        sf.write(str(path), x, rate)
        paths.append(path)
    if len(paths) < count: raise SystemExit(f"only {len(paths)} tracks of {MUSIC} last {shortest:g} s: install wesnoth-1.16-music")
    return paths


def timed(*command) -> float:
    "Run a `distill` command; its wall time in seconds."
    t0 = time.time()
    r = subprocess.run([str(DISTILL), *map(str, command)], capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"distill {' '.join(map(str, command))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.time() - t0


def gen_metrics(reference: Path, sounds: list[Path]) -> dict:
    r = subprocess.run([sys.executable, str(GEN_METRICS), str(reference), *map(str, sounds)], capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def row(name: str, m: dict) -> str:
    return (f"{name:34s} FD {m['fd_mel']:8.0f}   onsets/s {m['onsets_per_s']:5.2f} (corpus {m['ref_onsets_per_s']:.2f})   "
            f"level {m['level_db']:6.1f} dB (corpus {m['ref_level_db']:.1f})   holes/file {m['gaps_per_file']:.2f}, "
            f"longest {m['longest_gap_s']:.2f} s, files with one {m.get('with_gap', float('nan')):.0%}")


def holes(m: dict, paths: list[Path]) -> dict:
    "gen_metrics' hole figures, plus the share of files with a hole (from each file alone)."
    each = [gen_metrics(p, [p])["gaps_per_file"] for p in paths]   # each file measured alone (its own reference)
    return {**m, "with_gap": float(np.mean([g > 0 for g in each])) if each else float("nan")}


def spectrogram_figure(pairs: list[tuple[Path, Path]], out: Path, rate: int = 44100):
    "Log spectrograms (0–8 kHz) of each original beside its reconstruction."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(pairs), 2, figsize=(11, 2.4 * len(pairs)), squeeze=False)
    for (a, b), (left, right) in zip(pairs, axes):
        for path, ax, title in ((a, left, f"{a.stem}: original"), (b, right, "reconstruction")):
            x, _ = load_audio(path, rate)
            spec = torch.stft(x, 4096, 512, window=torch.hann_window(4096), return_complex=True).abs().pow(2)
            db = 10 * torch.log10(spec[: 4096 * 8000 // rate] + 1e-10)
            ax.imshow(db.numpy(), origin="lower", aspect="auto", vmin=float(db.max()) - 80, vmax=float(db.max()),
                      extent=(0, len(x) / rate, 0, 8000), cmap="magma")
            ax.set_title(title, fontsize=9); ax.set_ylabel("Hz")
    fig.tight_layout(); fig.savefig(out, dpi=80); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train"); ap.add_argument("--model"); ap.add_argument("--work")
    ap.add_argument("--count", type=int, default=8); ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1); ap.add_argument("--kit", default=str(KIT))
    ap.add_argument("--battle", default=str(MUSIC / KEPT_APART)); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plot", help="PNG of 4 training excerpts' spectrograms beside their reconstructions")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.work or tempfile.mkdtemp()); work.mkdir(parents=True, exist_ok=True)
    corpus = Path(a.train) if a.train else work / "corpus"
    files = audio_files(corpus) if a.train else excerpt_corpus(corpus)
    result = dict(corpus=str(corpus), files=len(files))
    model_path = Path(a.model) if a.model else work / "texture.distill"
    if not a.model:
        result["train_s"] = timed("train", corpus, "-o", model_path, "--force")
        result["train_prior_s"] = timed("train-prior", model_path, corpus)
        print(f"distill train {result['train_s']:.0f} s, distill train-prior {result['train_prior_s']:.0f} s (wall, reading included)", flush=True)
    model = load_model(model_path)
    print(f"model: {model.config.rvq_levels} levels × {model.config.codebook_size} codes; corpus {len(files)} files", flush=True)

    gen = work / "generated"; gen.mkdir(exist_ok=True)
    t0 = time.time()
    timed("generate", model_path, "-o", gen / "texture.wav", "--mode", "texture", "--duration", a.duration,
          "--count", a.count, "--seed", a.seed, "--force")
    generated = sorted(gen.glob("texture*.wav"))
    print(f"{a.count} textures of {a.duration:g} s in {time.time() - t0:.0f} s", flush=True)

    rate, recon_dir = model.audio.sample_rate, work / "reconstructed"; recon_dir.mkdir(exist_ok=True)
    metrics = load_metrics(AUDIO_METRICS)
    picked = files[:: max(1, len(files) // 4)][:4]
    rec_rows, pairs = [], []
    for f in picked:
        x, _ = load_audio(f, rate)
        write_audio(recon_dir / f"{f.stem}.orig.wav", x, rate, "float")
        rec = write_audio(recon_dir / f"{f.stem}.wav", model.reconstruct(x), rate, "float")
        gl = write_audio(recon_dir / f"{f.stem}.gl.wav", fit_length(mel_to_audio(model.mel(x), model.audio), len(x)), rate, "float")
        m, g = measure(metrics, recon_dir / f"{f.stem}.orig.wav", rec), measure(metrics, recon_dir / f"{f.stem}.orig.wav", gl)
        rec_rows.append(dict(file=f.name, lsd_db=m["lsd_db"], mrstft=m["mrstft"], level_err_db=m["level_err_db"], gl_lsd_db=g["lsd_db"], gl_mrstft=g["mrstft"]))
        pairs.append((recon_dir / f"{f.stem}.orig.wav", rec))
        print(f"  reconstruction {f.name[:30]:<30} LSD {m['lsd_db']:5.2f} (Griffin-Lim on the true mel {g['lsd_db']:5.2f})  "
              f"MR-STFT {m['mrstft']:5.2f} ({g['mrstft']:5.2f})  level {m['level_err_db']:+5.1f} dB", flush=True)
    result["reconstructions"] = rec_rows
    print(f"reconstructions of {len(rec_rows)} training excerpts: LSD {np.mean([r['lsd_db'] for r in rec_rows]):.2f} dB "
          f"(Griffin-Lim {np.mean([r['gl_lsd_db'] for r in rec_rows]):.2f}), MR-STFT {np.mean([r['mrstft'] for r in rec_rows]):.2f} "
          f"({np.mean([r['gl_mrstft'] for r in rec_rows]):.2f})", flush=True)
    if a.plot: spectrogram_figure(pairs, Path(a.plot)); print(f"spectrograms → {a.plot}")

    half = len(files) // 2
    halves = work / "half_a"; halves.mkdir(exist_ok=True)
    for f in files[:half]: (halves / f.name).unlink(missing_ok=True); (halves / f.name).symlink_to(f.resolve())
    rows = {"generated": holes(gen_metrics(corpus, generated), generated),
            "corpus half against half": holes(gen_metrics(halves, files[half:]), files[half:]),
            "reconstructions of 4 excerpts": holes(gen_metrics(corpus, [p for _, p in pairs]), [p for _, p in pairs]),
            f"drum kit ({Path(a.kit).name})": gen_metrics(corpus, audio_files(Path(a.kit)))}
    for name, m in rows.items(): print(row(name, {"with_gap": float("nan"), **m}), flush=True)
    result["rows"] = rows

    battle = Path(a.battle)
    if battle.is_file():
        x, _ = load_audio(battle, rate)
        x = x[60 * rate: 90 * rate]
        write_audio(work / "battle.orig.wav", x, rate, "float")
        write_audio(work / "battle.codes.wav", fit_length(grid_to_audio(model, encode_audio(model, x)), len(x)), rate, "float")
        write_audio(work / "battle.gl.wav", fit_length(mel_to_audio(model.mel(x), model.audio), len(x)), rate, "float")
        m, g = measure(metrics, work / "battle.orig.wav", work / "battle.codes.wav"), measure(metrics, work / "battle.orig.wav", work / "battle.gl.wav")
        print(f"{battle.name} 60–90 s through encode + decode: LSD {m['lsd_db']:.2f} dB (Griffin-Lim on the true mel {g['lsd_db']:.2f}), "
              f"MR-STFT {m['mrstft']:.2f} ({g['mrstft']:.2f})", flush=True)
        result["battle"] = dict(lsd_db=m["lsd_db"], mrstft=m["mrstft"], gl_lsd_db=g["lsd_db"], gl_mrstft=g["mrstft"],
                                **measure_long(model, battle, 60, 30))
    if a.json: Path(a.json).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
