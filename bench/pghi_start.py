"""Griffin-Lim started from Phase Gradient Heap Integration (Průša, Balazs & Søndergaard 2017) instead of random phases:
a try for issue 26, measured in nbs/00b_vocoder.ipynb ("Later: Griffin-Lim started from the phase's gradients") and
not shipped. `bench/vocoder_quality.py --vocoders griffin-lim griffin-lim-pghi` measures it.

PGHI reads a phase off the magnitude alone. For a Gaussian window the log-magnitude s and the phase φ of an STFT are
tied (the STFT is analytic up to a known factor): with time x in samples, frequency ω in cycles per sample and λ the
window's time-frequency spread (0.25645 × n_fft² is the Gaussian closest to a Hann window), in torch.stft's convention
(each frame's phase measured from its own start)

    ∂φ/∂x = (1/λ) ∂s/∂ω + 2πω,        ∂φ/∂ω = −λ ∂s/∂x (+ π per bin: the window's centre lies n_fft/2 into the frame).

Integrating those derivatives across the time-frequency plane, loudest coefficients first (a heap), gives a phase that
makes a steady partial advance at its own frequency and an attack line up across all bins at one instant. Coefficients
more than `tolerance` under the loudest keep the random start. The heap loop is plain Python here (about 8 s for 10 s of
dense music); numba compiles it when installed (0.2 s; Distill does not depend on numba)."""
import heapq, math

import numpy as np
import torch

import distill.audio as A

GAUSSIAN_FOR_HANN = 0.25645   # λ / n_fft² of the Gaussian window nearest a Hann window (Průša et al. 2017)


def integrate_phase(log_magnitude, time_step, bin_step, phase, todo, order):
    """From the loudest coefficient still `todo` (`order`: their flat indices, loudest first), spread the phase to its
    four neighbours along the steps (trapezoid rule), loudest first, until none is left."""
    bins, frames = log_magnitude.shape
    for start in order:
        k0, m0 = start // frames, start % frames
        if not todo[k0, m0]: continue
        todo[k0, m0], phase[k0, m0] = False, 0.0
        heap = [(-log_magnitude[k0, m0], k0, m0)]
        while heap:
            _, k, m = heapq.heappop(heap)
            for kk, mm in ((k, m + 1), (k, m - 1), (k + 1, m), (k - 1, m)):
                if not (0 <= kk < bins and 0 <= mm < frames and todo[kk, mm]): continue
                if kk == k: step = (time_step[k, m] + time_step[kk, mm]) / 2 * (1 if mm > m else -1)
                else: step = (bin_step[k, m] + bin_step[kk, mm]) / 2 * (1 if kk > k else -1)
                phase[kk, mm], todo[kk, mm] = phase[k, m] + step, False
                heapq.heappush(heap, (-log_magnitude[kk, mm], kk, mm))
    return phase


try:
    import numba
    integrate_phase = numba.njit(cache=True)(integrate_phase)
except ImportError: pass


def pghi_phase(magnitude: np.ndarray, n_fft: int, hop: int, tolerance: float = 1e-5, seed: int = 0) -> np.ndarray:
    "A phase `[bins, frames]` for an STFT magnitude (torch.stft's convention, centred frames) by phase gradient heap integration."
    s = np.ascontiguousarray(np.log(np.maximum(magnitude.astype(np.float64), 1e-30)))
    lam = GAUSSIAN_FOR_HANN * n_fft ** 2
    along_bins = np.gradient(s, axis=0) if s.shape[0] > 1 else np.zeros_like(s)
    along_frames = np.gradient(s, axis=1) if s.shape[1] > 1 else np.zeros_like(s)
    k = np.arange(s.shape[0])[:, None]
    time_step = hop * n_fft / lam * along_bins + 2 * math.pi * k * hop / n_fft   # phase advance from one frame to the next
    bin_step = -lam / (n_fft * hop) * along_frames + math.pi                     # phase step from one bin to the next
    phase = np.random.default_rng(seed).uniform(0, 2 * math.pi, size=s.shape)
    todo = s > s.max() + math.log(tolerance)
    loud = np.flatnonzero(todo)
    return integrate_phase(s, time_step, bin_step, phase, todo, loud[np.argsort(-s.ravel()[loud], kind="stable")])


def griffin_lim_pghi(mel, p, n_iter=None, seed=0, support=None):
    "`distill.audio.griffin_lim` (same arguments), its iterations started from `pghi_phase` instead of random phases."
    magnitude = A.stft_power_estimate(mel, p).sqrt()
    flat = magnitude.reshape(-1, *magnitude.shape[-2:])
    phase = torch.from_numpy(np.stack([pghi_phase(m.numpy(), p.n_fft, p.hop_length, seed=seed) for m in flat])).float()
    return GRIFFIN_LIM(mel, p, n_iter, seed, support, start=torch.polar(torch.ones_like(phase), phase))


GRIFFIN_LIM = A.griffin_lim   # the package's, before bench/vocoder_quality.py swaps vocoders in
