"""Train the envelope vocoder of issue 26 (bench/envelope_vocoder.py; tried, measured and not shipped: its figures
against Griffin-Lim are in nbs/00b_vocoder.ipynb): prepare its training audio, train, resume, measure and
export. Anyone can re-run it; what a run did is written to WORK/train.log (one JSON line per report).

    python bench/train_vocoder.py prepare --work DIR                 # decode, render and cache the training audio
    nice -n 15 python bench/train_vocoder.py train --work DIR [--steps 40000] [--hours H] [--threads 1]
    python bench/train_vocoder.py export --work DIR --out W.safetensors [--checkpoint FILE]
    python bench/vocoder_quality.py --weights W.safetensors --test DIR… --pad 0.05   # against Griffin-Lim

Training audio: only recordings that Debian packages ship, and none of the sets the acceptance checks measure on
(ColomboAcousticDrumkit, Millo_MultiLayered2, Gimme A Hand 1.0, VariBreaks, wesnoth's battle.ogg; other kits are
not used either):
  - hydrogen-drumkits: The Black Pearl 1.0, GMRockKit, TR808EmulationKit, HardElectro1, ElectricEmpireKit,
    ForzeeStereo, BJA_Pacific, Audiophob, rumpf_kit_z01_h2;
  - wesnoth-1.16-music, every track but battle.ogg;
  - freepats (GUS patches: drum and instrument samples);
  - fluid-soundfont-gm rendered by fluidsynth: every General MIDI drum note and every instrument at several
    velocities, one note at a time out of silence, and random multi-instrument phrases;
  - synthesised one-shots (distill.data's demo synthesiser).
Every 20th file (by a hash of its name) is held out for validation. Segments are drawn 60 % from one-shots, which
start out of 0–250 ms of digital silence seven times in ten (so the network learns to keep silence before an
attack), and 40 % from music; each is brought to Distill's loudness (`AudioParams.loudness_db`) and then given a
random gain of −30…+6 dB and a random tilt EQ. The network predicts the envelope — the level every 64 samples
(nbs/00b_vocoder); its loss: L1 against the recording's envelope in tens of dB (floored 100 dB under the segment's
loudest point), plus a square beyond 10 dB. Checkpoints every --save-every steps (resume by running the same command again); every --eval-every
steps a validation loss, and the attack measures of ../shared/tools/audio_metrics.py on held-out hits after 50 ms
of silence.
"""
import argparse, hashlib, importlib.util, json, math, os, shutil, struct, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from distill.audio import AudioParams, MelTransform, load_audio, audio_to_mel, loudest_frame_db, mix_to_mono, stft_power_estimate
from distill.data import synth_demo_corpus
sys.path.insert(0, str(Path(__file__).resolve().parent))
from envelope_vocoder import Vocoder, VocoderConfig, envelope_db, save_vocoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KITS = Path("/usr/share/hydrogen/data/drumkits")
TRAIN_KITS = ("The Black Pearl 1.0", "GMRockKit", "TR808EmulationKit", "HardElectro1", "ElectricEmpireKit",
              "ForzeeStereo", "BJA_Pacific", "Audiophob", "rumpf_kit_z01_h2")
MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
MUSIC_KEPT_APART = ("battle.ogg",)
FREEPATS = Path("/usr/share/midi/freepats")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg")
RATE = AudioParams().sample_rate


def log(work: Path, **fields):
    line = json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), **fields})
    print(line, flush=True)
    with open(work / "train.log", "a") as f: f.write(line + "\n")


def held_out(name: str) -> bool:
    "Every 20th file, by a hash of its name (stable across machines and runs)."
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 20 == 0


# ---------------------------------------------------------------- training audio

def read_pat(path: Path) -> list[tuple[int, np.ndarray]]:
    "The samples of a GUS patch (freepats' format) as `(rate, mono float32)`: each layer's recording, loop ignored."
    b = path.read_bytes()
    if b[:8] != b"GF1PATCH": raise ValueError(f"{path}: not a GUS patch")
    pos, out = 129 + 63 + 47, []
    for _ in range(b[129 + 63 + 6]):
        size, = struct.unpack("<I", b[pos + 8: pos + 12]); rate, = struct.unpack("<H", b[pos + 20: pos + 22]); modes = b[pos + 55]
        data = b[pos + 96: pos + 96 + size]; pos += 96 + size
        if modes & 1: x = np.frombuffer(data[: len(data) // 2 * 2], "<u2" if modes & 2 else "<i2").astype(np.float32) / 32768
        else: x = np.frombuffer(data, "u1" if modes & 2 else "i1").astype(np.float32) / 128
        if modes & 2: x = x - 1.0
        out.append((rate, x - x.mean() if len(x) else x))
    return out


def midi_file(path: Path, notes: list[tuple[float, float, int, int, int]], programs: dict[int, int], tempo_bpm: float = 120):
    "Write a type-0 MIDI file: `notes` are (start s, length s, channel, key, velocity); `programs` channel → GM program."
    tpq = 480; ticks = lambda s: round(s * tpq * tempo_bpm / 60)
    events = [(0, bytes([0xC0 | ch, prog])) for ch, prog in programs.items()]
    for start, length, ch, key, vel in notes:
        events += [(ticks(start), bytes([0x90 | ch, key, vel])), (ticks(start + length), bytes([0x80 | ch, key, 0]))]
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    var = lambda n: bytes(b | (0x80 if i else 0) for i, b in reversed(list(enumerate(
        [(n >> (7 * k)) & 0x7F for k in range(max(1, (n.bit_length() + 6) // 7))]))))
    track, now = bytearray(), 0
    track += b"\x00\xff\x51\x03" + round(60e6 / tempo_bpm).to_bytes(3, "big")
    for t, msg in events: track += var(t - now) + msg; now = t
    track += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def render(midi: Path, out: Path) -> np.ndarray:
    "`midi` rendered by fluidsynth with the GM soundfont, dry (no reverb or chorus), mono at Distill's rate."
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-F", str(out), "-r", str(RATE), str(SOUNDFONT), str(midi)],
                   check=True, capture_output=True)
    data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    return mix_to_mono(data)


def cut_notes(audio: np.ndarray, starts: list[float], gap: float) -> list[np.ndarray]:
    "The stretches of `audio` from each start time to the next (`gap` seconds apart), their trailing silence dropped."
    out = []
    for s in starts:
        x = audio[round(s * RATE): round((s + gap) * RATE)]
        loud = np.nonzero(np.abs(x) > 1e-4)[0]
        if len(loud): out.append(x[: loud[-1] + 1])
    return out


def rendered_sounds(tmp: Path, rng: np.random.Generator) -> tuple[dict, dict]:
    "One-shots (every GM drum note, every instrument's notes out of silence) and music phrases from fluidsynth."
    hits, music, gap = {}, {}, 3.0
    # drums: channel 10 (9 from zero), keys 27…87, four velocities, one note every `gap` seconds
    notes = [(i * gap, 0.2, 9, key, vel) for i, (key, vel) in enumerate((k, v) for k in range(27, 88) for v in (35, 70, 100, 127))]
    midi_file(tmp / "drums.mid", notes, {})
    for i, x in enumerate(cut_notes(render(tmp / "drums.mid", tmp / "drums.wav"), [n[0] for n in notes], gap)):
        hits[f"fluid-drums/{notes[i][3]}-{notes[i][4]}"] = x
    # instruments: every program, four notes of random key, length and velocity, out of silence
    notes, programs = [], {}
    for prog in range(128):
        for j in range(4):
            notes.append((len(notes) * gap, float(rng.uniform(0.15, 1.6)), 0, int(rng.integers(36, 90)), int(rng.integers(40, 128))))
    # one program per note: a program change before each note, written as its own tiny file per program
    for prog in range(128):
        chunk = [(j * gap, n[1], 0, n[3], n[4]) for j, n in enumerate(notes[prog * 4:(prog + 1) * 4])]
        midi_file(tmp / "one.mid", chunk, {0: prog})
        for j, x in enumerate(cut_notes(render(tmp / "one.mid", tmp / "one.wav"), [c[0] for c in chunk], gap)):
            hits[f"fluid-notes/{prog}-{j}"] = x
    # music: 24 phrases of 40 s, three instruments each (and drums in half), random keys around a scale
    for k in range(24):
        progs = {ch: int(rng.integers(0, 120)) for ch in range(3)}
        root, scale = int(rng.integers(40, 60)), np.array([0, 2, 3, 5, 7, 8, 10, 12])
        phrase, t = [], 0.0
        while t < 40:
            step = float(rng.choice([0.125, 0.25, 0.5, 1.0]))
            for ch in range(3):
                if rng.random() < 0.6:
                    phrase.append((t, step * float(rng.uniform(0.5, 2.0)), ch, int(root + 12 * ch - 12 + rng.choice(scale)), int(rng.integers(50, 120))))
            if k % 2 and rng.random() < 0.7: phrase.append((t, 0.1, 9, int(rng.choice([36, 38, 42, 46, 49, 51])), int(rng.integers(60, 127))))
            t += step
        midi_file(tmp / "phrase.mid", phrase, progs, tempo_bpm=float(rng.uniform(80, 160)))
        music[f"fluid-music/{k}"] = render(tmp / "phrase.mid", tmp / "phrase.wav")
    return hits, music


def resampled(x: np.ndarray, rate: int) -> np.ndarray:
    """`x` at Distill's rate. Patches have odd rates (22254 Hz): rounded to 100 Hz first (a pitch error under 0.5 %), so
    the polyphase filter stays small (an exact 22254 → 44100 needs one of gigabytes)."""
    rate = max(100, round(rate / 100) * 100)
    if rate == RATE or len(x) == 0: return x.astype(np.float32)
    import torchaudio
    return torchaudio.functional.resample(torch.from_numpy(x.astype(np.float32)), rate, RATE).numpy()


def sounds(tmp: Path, seed: int = 0):
    "Every training sound, one at a time, as `(set, name, mono float32 at Distill's rate)`: set is hits or music."
    rng = np.random.default_rng(seed)
    for kit in TRAIN_KITS:
        for f in sorted((KITS / kit).rglob("*")):
            if f.suffix.lower() in AUDIO_SUFFIXES: yield "hits", f"{kit}/{f.relative_to(KITS / kit)}", load_audio(f, RATE)[0].numpy()
    for f in sorted(MUSIC.glob("*.ogg")):
        if f.name not in MUSIC_KEPT_APART: yield "music", f"wesnoth/{f.name}", load_audio(f, RATE)[0].numpy()
    for f in sorted(FREEPATS.rglob("*.pat")):
        for j, (rate, x) in enumerate(read_pat(f)):
            if len(x) > rate // 50: yield "hits", f"freepats/{f.parent.name}/{f.stem}-{j}", resampled(x, rate)
    hits, music = rendered_sounds(tmp, rng)
    for name, x in hits.items(): yield "hits", name, x
    for name, x in music.items(): yield "music", name, x
    synth_demo_corpus(tmp / "synth", n_files=400, seed=seed)
    for f in sorted((tmp / "synth").glob("*.wav")): yield "hits", f"synth/{f.name}", load_audio(f, RATE)[0].numpy()


def prepare(work: Path, seed: int = 0):
    "Decode, render and cache every training sound in `work/data`: one float16 file per set, and an index."
    out = work / "data"; out.mkdir(parents=True, exist_ok=True)
    if (out / "index.json").exists(): print(f"{out}: already prepared"); return
    p, index, offsets = AudioParams(), {"hits": [], "music": []}, {"hits": 0, "music": 0}
    files = {k: open(out / f"{k}.f16", "wb") for k in index}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, name, x in sounds(Path(tmp), seed):
            if len(x) < RATE // 50 or not np.isfinite(x).all() or np.abs(x).max() < 1e-4: continue
            # the loudest frame, on Distill's own mel, worked out a minute at a time (tracks are minutes long)
            loudest = max(loudest_frame_db(audio_to_mel(torch.from_numpy(x[i: i + 60 * RATE].copy()), p), p) for i in range(0, len(x), 60 * RATE))
            index[kind].append(dict(name=name, start=offsets[kind], length=len(x), loudest_db=round(loudest, 2), held_out=held_out(name)))
            files[kind].write(x.astype(np.float16).tobytes()); offsets[kind] += len(x)
    for f in files.values(): f.close()
    for kind, rows in index.items():
        print(f"{kind}: {len(rows)} sounds, {offsets[kind] / RATE / 60:.1f} minutes ({sum(r['held_out'] for r in rows)} held out)", flush=True)
    (out / "index.json").write_text(json.dumps(index, indent=0))


# ---------------------------------------------------------------- segments

class Segments:
    "Draws training (or held-out) segments from the prepared audio."
    def __init__(self, work: Path, held: bool, samples: int, hit_share: float = 0.6):
        index = json.loads((work / "data" / "index.json").read_text())
        self.audio = {k: np.memmap(work / "data" / f"{k}.f16", np.float16, "r") for k in index}
        self.rows = {k: [r for r in rows if r["held_out"] == held] for k, rows in index.items()}
        self.weights = {k: np.array([r["length"] for r in rows], float) for k, rows in self.rows.items()}
        self.weights["hits"] = np.sqrt(self.weights["hits"])   # long hits (rolls, loops) count, but less than per second
        self.weights = {k: w / w.sum() for k, w in self.weights.items()}
        self.samples, self.hit_share, self.p = samples, hit_share, AudioParams()

    def one(self, rng: np.random.Generator) -> np.ndarray:
        kind = "hits" if rng.random() < self.hit_share else "music"
        r = self.rows[kind][rng.choice(len(self.rows[kind]), p=self.weights[kind])]
        n = self.samples
        if kind == "hits" and rng.random() < 0.7: start = -int(rng.integers(0, RATE // 4))      # out of silence
        else: start = int(rng.integers(0, max(1, r["length"] - n // 2)))
        x = np.zeros(n, np.float32)
        a, b = max(start, 0), min(start + n, r["length"])
        if b > a: x[a - start: b - start] = self.audio[kind][r["start"] + a: r["start"] + b]
        # Distill's loudness, then a random gain, and a random tilt (first-order shelf) to vary the spectrum
        gain_db = (self.p.loudness_db - r["loudest_db"]) + rng.uniform(-30, 6)
        x *= 10 ** (min(gain_db, 40) / 20)
        tilt = rng.uniform(-0.5, 0.5)
        if abs(tilt) > 0.05:
            y = x.copy(); y[1:] -= 0.9 * x[:-1]                               # high-passed copy
            x = x + tilt * y
        return x

    def batch(self, rng: np.random.Generator, size: int) -> torch.Tensor:
        x = torch.from_numpy(np.stack([self.one(rng) for _ in range(size)]))
        peak = x.abs().amax(-1, keepdim=True)
        return torch.where(peak > 0.99, x * 0.99 / peak.clamp_min(1e-9), x)   # no segment beyond full scale


# ---------------------------------------------------------------- loss

def envelope_loss(predicted: torch.Tensor, target: torch.Tensor, floor_db: float = -100.0) -> torch.Tensor:
    """L1 in tens of dB between envelopes, each floored `floor_db` under the segment's loudest point, and a square
    beyond 10 dB: an envelope 60 dB too loud in the silence before an attack (the pre-echo it is there to remove)
    must cost more than six envelopes 10 dB off in the middle of a sound."""
    floor = target.amax(dim=-1, keepdim=True) + floor_db
    error = (target.maximum(floor) - predicted.maximum(floor)).abs() / 10
    return (error + 0.5 * (error - 1).clamp_min(0) ** 2).mean()


def losses(net: Vocoder, mel_of, x: torch.Tensor) -> dict:
    "The envelope's loss (`envelope_loss`) on a batch of waveforms `x`."
    envelope, true_envelope = net.predict(mel_of(x)), envelope_db(x, net.config)
    loss = envelope_loss(envelope[..., : true_envelope.shape[-1]], true_envelope)
    return dict(total=loss, envelope=loss)


# ---------------------------------------------------------------- training

def learning_rate(step: int, steps: int, peak: float, warmup: int = 500) -> float:
    if step < warmup: return peak * (step + 1) / warmup
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup)))))


def save_checkpoint(path: Path, **state):
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp); os.replace(tmp, path)


def load_metrics():
    path = ROOT.parent / "shared" / "tools" / "audio_metrics.py"
    spec = importlib.util.spec_from_file_location("audio_metrics", path)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module


def held_out_hits(work: Path) -> list[np.ndarray]:
    "The held-out drum hits of the training sources (the hydrogen kits' and fluidsynth's; never the measurement kits), at most 2 s each."
    index = json.loads((work / "data" / "index.json").read_text())
    audio = np.memmap(work / "data" / "hits.f16", np.float16, "r")
    rows = [r for r in index["hits"] if r["held_out"] and r["name"].split("/")[0] in TRAIN_KITS + ("fluid-drums",)]
    return [np.asarray(audio[r["start"]: r["start"] + min(r["length"], 2 * RATE)], np.float32) for r in rows]


@torch.no_grad()
def evaluate(net: Vocoder, mel_of, val: torch.Tensor, hits: list[np.ndarray], metrics) -> dict:
    net.eval()
    parts = [losses(net, mel_of, val[i: i + 8]) for i in range(0, len(val), 8)]
    out = {f"val_{k}": float(np.mean([float(p[k]) for p in parts])) for k in parts[0]}
    from scipy.signal import resample_poly
    rows = []
    for x in hits:
        x = np.concatenate([np.zeros(round(0.05 * RATE), np.float32), x])             # 50 ms of silence first
        mel = mel_of(torch.from_numpy(x)[None] * 10 ** ((AudioParams().loudness_db - loudest_frame_db(mel_of(torch.from_numpy(x)), AudioParams())) / 20))
        y = net(mel, stft_power_estimate(mel, AudioParams()).sqrt())[0].numpy()
        a, b = (resample_poly(v.astype(np.float64), 1, 2) for v in (x, y[: len(x)]))
        a, b = a / (np.abs(a).max() + 1e-9), b / (np.abs(b).max() + 1e-9)
        rows.append({**metrics.compare(a, b), **metrics.transients(a, b)})
    net.train()
    for k in ("lsd_db", "mrstft", "pre_echo_db", "onset_env_db"): out[f"hits_{k}"] = float(np.mean([r[k] for r in rows]))
    out["hits_attack_err_ms"] = float(np.mean([abs(r["attack_ms"] - r["attack_ms_ref"]) for r in rows]))
    return out


def train(work: Path, steps: int, hours: float | None, batch: int, samples: int, peak_lr: float, threads: int,
          save_every: int, eval_every: int, config: VocoderConfig, seed: int):
    torch.set_num_threads(threads)
    ckpt = work / "checkpoint.pt"
    net = Vocoder(config)
    opt = torch.optim.AdamW(net.parameters(), lr=peak_lr, betas=(0.9, 0.99), weight_decay=0.01)
    step, rng = 0, np.random.default_rng(seed)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        net = Vocoder(VocoderConfig.from_json(state["config"])); net.load_state_dict(state["model"])
        opt = torch.optim.AdamW(net.parameters(), lr=peak_lr, betas=(0.9, 0.99), weight_decay=0.01)
        if state.get("optimizer"): opt.load_state_dict(state["optimizer"])
        step = state["step"]; rng.bit_generator.state = state["rng"]
        if steps != state.get("steps", steps): log(work, event="schedule changed", steps=steps, was=state.get("steps"))
        log(work, event="resumed", step=step)
    else:
        log(work, event="started", config=json.loads(config.to_json()), steps=steps, batch=batch, samples=samples,
            peak_lr=peak_lr, threads=threads, params=sum(p.numel() for p in net.parameters()))
    data, mel_of = Segments(work, held=False, samples=samples), MelTransform(AudioParams())
    val = Segments(work, held=True, samples=samples).batch(np.random.default_rng(1234), 64)
    hits, metrics = held_out_hits(work), load_metrics()
    net.train()
    started, seen, sums = time.time(), 0, {}
    while step < steps:
        if hours and time.time() - started > hours * 3600: log(work, event="time budget spent", step=step); break
        for g in opt.param_groups: g["lr"] = learning_rate(step, steps, peak_lr)
        parts = losses(net, mel_of, data.batch(rng, batch))
        opt.zero_grad(set_to_none=True); parts["total"].backward()
        grad = float(torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0))
        opt.step(); step += 1; seen += 1
        for k, v in parts.items(): sums[k] = sums.get(k, 0.0) + v.item()
        if step % 50 == 0:
            log(work, step=step, lr=round(learning_rate(step, steps, peak_lr), 7), grad=round(grad, 3),
                s_per_step=round((time.time() - started) / seen, 2), **{k: round(v / 50, 4) for k, v in sums.items()}); sums = {}
        if step % save_every == 0 or step == steps:
            save_checkpoint(ckpt, model=net.state_dict(), optimizer=opt.state_dict(), step=step, steps=steps,
                            rng=rng.bit_generator.state, config=net.config.to_json())
        if step % eval_every == 0 or step == steps:
            save_vocoder(net, work / f"vocoder-{step}.safetensors", steps=str(step))
            log(work, step=step, event="evaluated", **{k: round(v, 3) for k, v in evaluate(net, mel_of, val, hits, metrics).items()})
    save_checkpoint(ckpt, model=net.state_dict(), optimizer=opt.state_dict(), step=step, steps=steps,
                    rng=rng.bit_generator.state, config=net.config.to_json())


def export(work: Path, out: Path, checkpoint: Path | None):
    state = torch.load(checkpoint or work / "checkpoint.pt", weights_only=False)
    net = Vocoder(VocoderConfig.from_json(state["config"])); net.load_state_dict(state["model"])
    index = json.loads((work / "data" / "index.json").read_text())
    data = {k: dict(sounds=len(v), minutes=round(sum(r["length"] for r in v) / RATE / 60, 1)) for k, v in index.items()}
    tmp = out.with_name(out.name + ".part")
    save_vocoder(net, tmp, steps=str(state["step"]), data=json.dumps(data), trained_by="bench/train_vocoder.py")
    os.replace(tmp, out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, step {state['step']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("prepare", "train", "export"))
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=20000, help="planned steps (the learning rate's cosine spans them)")
    ap.add_argument("--hours", type=float, help="stop (with a checkpoint) after this long; run again to go on")
    ap.add_argument("--batch", type=int, default=16); ap.add_argument("--samples", type=int, default=32768)
    ap.add_argument("--lr", type=float, default=1e-3); ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=200); ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", nargs="*", default=[], metavar="NAME=VALUE", help="VocoderConfig fields to change")
    ap.add_argument("--out", type=Path); ap.add_argument("--checkpoint", type=Path)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.action == "prepare": prepare(a.work, a.seed)
    elif a.action == "train":
        config = VocoderConfig(**{k: int(v) for k, v in (kv.split("=", 1) for kv in a.config)})
        train(a.work, a.steps, a.hours, a.batch, a.samples, a.lr, a.threads, a.save_every, a.eval_every, config, a.seed)
    else:
        if not a.out: sys.exit("export needs --out")
        export(a.work, a.out, a.checkpoint)


if __name__ == "__main__":
    main()
