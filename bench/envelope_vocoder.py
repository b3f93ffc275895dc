"""The envelope vocoder that was tried for issue 26 and not shipped (its figures, against Griffin-Lim:
nbs/00b_vocoder.ipynb): a small ConvNeXt network reads Distill's normalised log-mel and predicts the waveform's
level every 64 samples; `griffin_lim_following` runs Griffin-Lim on the inverse-mel magnitude with one more
projection per iteration that holds the waveform to that envelope. Trained by bench/train_vocoder.py, measured by
bench/vocoder_quality.py --weights W.safetensors; the package itself turns spectrograms into sound by Griffin-Lim
(`distill.audio.mel_to_audio`)."""
from __future__ import annotations
import json, math
from dataclasses import dataclass, asdict, fields
from pathlib import Path

import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import save_file

from distill.audio import AudioParams, db_to_normalised, normalised_to_db, stft_power_estimate

MEL_FIELDS = ("sample_rate", "n_fft", "hop_length", "n_mels", "f_min", "f_max", "floor_db", "ceiling_db")


@dataclass
class VocoderConfig:
    "The log-mel a vocoder inverts (it was trained on exactly this one) and the shape of its network."
    sample_rate: int = 44100     # the mel's sample rate …
    n_fft: int = 2048            # … STFT size …
    hop_length: int = 512        # … hop …
    n_mels: int = 256            # … bands …
    f_min: float = 20.0          # … lowest band edge, Hz …
    f_max: float | None = None   # … highest band edge (None: Nyquist) …
    floor_db: float = -100.0     # … and dB mapping: floor_db is -1, 0 dB is +1
    ceiling_db: float = 30.0
    dim: int = 256               # channels of the network
    blocks: int = 5              # ConvNeXt blocks
    embed_kernel: int = 3        # width of the first convolution over mel frames
    kernel: int = 7              # depthwise kernel of every block
    expansion: int = 3           # a block's hidden width, in multiples of its channels
    envelope_hop: int = 64       # samples between the values of the predicted envelope (1.5 ms)
    envelope_window: int = 256   # the Hann window an envelope value measures (5.8 ms)
    griffin_lim_iters: int = 32  # Griffin-Lim iterations on the predicted spectrum

    @property
    def bins(self) -> int: return self.n_fft // 2 + 1
    @property
    def envelope_per_frame(self) -> int: return self.hop_length // self.envelope_hop
    def to_json(self) -> str: return json.dumps(asdict(self))
    @classmethod
    def from_json(cls, text: str):
        d = json.loads(text)
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def envelope_db(audio: torch.Tensor, c: VocoderConfig) -> torch.Tensor:
    "The level (dB) of `audio` `[..., samples]` every `envelope_hop` samples, through a centred Hann window: `[..., samples // hop + 1]`."
    window = torch.hann_window(c.envelope_window, dtype=audio.dtype, device=audio.device)
    frames = torch.nn.functional.pad(audio.reshape(-1, 1, audio.shape[-1]) ** 2, (c.envelope_window // 2, c.envelope_window // 2))
    power = torch.nn.functional.conv1d(frames, (window / window.sum()).view(1, 1, -1), stride=c.envelope_hop)
    return 10 * torch.log10(power.clamp_min(1e-20)).reshape(*audio.shape[:-1], -1)


def follow_envelope(audio: torch.Tensor, envelope: torch.Tensor, c: VocoderConfig, tolerance_db: float = 6.0, boost_db: float = 12.0) -> torch.Tensor:
    """`audio` `[..., samples]` brought towards `envelope` (dB, one value every `envelope_hop` samples, as `envelope_db`
    measures) wherever its own level differs by more than `tolerance_db`: down as far as it takes, up by at most
    `boost_db`. The gain moves linearly (in dB) from one envelope point to the next."""
    have = envelope_db(audio, c)
    n = min(have.shape[-1], envelope.shape[-1])
    diff = envelope[..., :n] - have[..., :n]
    gain_db = torch.where(diff < -tolerance_db, diff + tolerance_db, (diff - tolerance_db).clamp(0, boost_db))
    # point j sits on sample j × hop; past the last point the gain holds
    per_sample = torch.nn.functional.interpolate(gain_db.reshape(-1, 1, n), size=(n - 1) * c.envelope_hop + 1, mode="linear", align_corners=True)
    per_sample = torch.nn.functional.pad(per_sample, (0, max(0, audio.shape[-1] - per_sample.shape[-1])), mode="replicate")
    return audio * 10 ** (per_sample[..., : audio.shape[-1]].reshape(audio.shape) / 20)


def griffin_lim_following(magnitude: torch.Tensor, envelope: torch.Tensor, c: VocoderConfig, seed: int = 0,
                          tolerance_db: float = 6.0, boost_db: float = 12.0, momentum: float = 0.99) -> torch.Tensor:
    """Griffin-Lim (fast, with momentum: Perraudin et al. 2013, as torchaudio has it) on an STFT magnitude
    `[..., bins, frames]`, with one more projection in every iteration: the waveform is brought to `envelope`
    (`follow_envelope`) before its STFT is taken again. So the phase it settles on is one whose sound has the magnitude
    *and* starts where the envelope says — not a phase that spreads an attack over the 46 ms window."""
    window = torch.hann_window(c.n_fft, device=magnitude.device)
    samples = (magnitude.shape[-1] - 1) * c.hop_length
    stft = lambda y: torch.stft(y, c.n_fft, c.hop_length, window=window, return_complex=True)
    istft = lambda s: torch.istft(s, c.n_fft, c.hop_length, window=window, length=samples)
    shape = magnitude.shape
    magnitude, envelope = magnitude.reshape(-1, *shape[-2:]), envelope.reshape(-1, envelope.shape[-1])
    phase = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(seed)).to(magnitude.device)
    angles, previous = torch.polar(torch.ones_like(magnitude), 2 * math.pi * phase), 0
    for _ in range(c.griffin_lim_iters):
        rebuilt = stft(follow_envelope(istft(magnitude * angles), envelope, c, tolerance_db, boost_db))
        angles, previous = torch.sgn(rebuilt - previous * (momentum / (1 + momentum))), rebuilt
    audio = follow_envelope(istft(magnitude * angles), envelope, c, tolerance_db, boost_db)
    return audio.reshape(*shape[:-2], samples)


class ConvNeXtBlock(nn.Module):
    "Depthwise convolution → LayerNorm → pointwise MLP, scaled and added back (ConvNeXt, as Vocos uses it), on `[B, C, T]`."
    def __init__(self, dim: int, hidden: int, kernel: int, scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.pwconv2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x):
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.pwconv2(nn.functional.gelu(self.pwconv1(y))) * self.gamma
        return x + y.transpose(1, 2)


class Vocoder(nn.Module):
    """Normalised log-mel `[B, n_mels, frames]` → its envelope, and with an STFT magnitude for it, its sound. ConvNeXt
    blocks read the mel with context on both sides; a head gives `envelope_per_frame` values a frame, relative to the
    frame's own mel energy. `griffin_lim_following` then finds a phase for the magnitude whose sound follows that
    envelope."""
    def __init__(self, config: VocoderConfig):
        super().__init__()
        c = self.config = config
        self.embed = nn.Conv1d(c.n_mels, c.dim, c.embed_kernel, padding=c.embed_kernel // 2)
        self.embed_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(c.dim, c.expansion * c.dim, c.kernel, 1 / c.blocks) for _ in range(c.blocks))
        self.out_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.envelope = nn.Linear(c.dim, c.envelope_per_frame)
        nn.init.zeros_(self.envelope.weight); nn.init.zeros_(self.envelope.bias)

    def predict(self, mel: torch.Tensor) -> torch.Tensor:
        "The envelope in dB `[B, frames × envelope_per_frame]` (`envelope_db`'s scale) of the sound `mel` shows."
        c = self.config
        # what the network hears: the mel, with context on both sides
        x = self.embed_norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks: x = block(x)
        x = self.envelope(self.out_norm(x.transpose(1, 2)))                                 # [B, frames, per_frame]
        # relative to each frame's energy in the mel, so that an untrained network already follows the level
        half = -c.floor_db / 2
        level = 10 * torch.log10((10 ** ((mel * half - half).clamp(c.floor_db, c.ceiling_db) / 10)).sum(1))
        return (level.unsqueeze(-1) + x).flatten(1)

    def forward(self, mel: torch.Tensor, magnitude: torch.Tensor, seed: int = 0, **follow) -> torch.Tensor:
        """The waveform `[B, (frames - 1) × hop]` of `mel`, whose STFT magnitude `[B, bins, frames]` (torch.stft's
        scale) is `magnitude` (Griffin-Lim seeded by `seed`; `follow`: `griffin_lim_following`'s settings)."""
        return griffin_lim_following(magnitude, self.predict(mel), self.config, seed, **follow)


def save_vocoder(net: Vocoder, path: str | Path, **metadata: str):
    "Write `net`'s weights (half precision) and configuration, plus any `metadata` strings, to a safetensors file."
    tensors = {k: v.detach().cpu().half().contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": net.config.to_json(), **metadata})


def load_vocoder(path: str | Path) -> Vocoder:
    "The vocoder stored in `path` by `save_vocoder`, ready for inference (eval mode, single precision)."
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if "config" not in meta: raise ValueError(f"{path}: not a vocoder weights file (no configuration in its metadata)")
        net = Vocoder(VocoderConfig.from_json(meta["config"]))
        net.load_state_dict({k: f.get_tensor(k).float() for k in f.keys()})
    return net.eval()


def inverts(config: VocoderConfig, params) -> bool:
    "Whether a vocoder made with `config` was trained on the log-mel that `params` (an `AudioParams`) define."
    return all(getattr(params, k, None) == getattr(config, k) for k in MEL_FIELDS)


@torch.inference_mode()
def vocode(net: Vocoder, mel: torch.Tensor, magnitude: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Normalised log-mel `[..., n_mels, frames]` and its STFT magnitude `[..., bins, frames]` (an estimate: the inverse
    mel projection) → waveform `[..., (frames - 1) × hop]` by `net` (Griffin-Lim seeded by `seed`)."""
    lead, flat = mel.shape[:-2], lambda x: x.reshape(-1, *x.shape[-2:]).float()
    return net(flat(mel), flat(magnitude), seed=seed).reshape(*lead, -1)


def envelope_vocoder_waveform(net: Vocoder, mel: torch.Tensor, p: AudioParams, n_iter: int | None = None, seed: int = 0) -> torch.Tensor:
    """`distill.audio.griffin_lim`'s counterpart (same arguments, same result's shape): normalised log-mel
    `[..., n_mels, frames]` → waveform `[..., (frames - 1) × hop]` by `net` (`n_iter` is ignored: `net.config` has
    it). `mel_to_audio` applies `keep_silence` after either."""
    if not inverts(net.config, p): raise ValueError("this vocoder was trained on another log-mel than these audio parameters")
    # within floor…ceiling and NaN-free, so any spectrogram, even a network's garbage, inverts to finite audio
    mel = db_to_normalised(normalised_to_db(mel.detach().float().cpu(), p), p)
    return vocode(net, mel, stft_power_estimate(mel, p).sqrt(), seed)
