"""Fast ODE samplers on the respaced learned-σ process, restated from their papers in PyTorch/numpy.

Written once and used twice: tests/reference/dit_reference.py makes the toolkit's fixtures with it (the
TypeScript in lib/dpm_solver.ts and lib/karras.ts must agree to float32 precision), and a recipe that
measures quality against steps can sample with it. Imports torch and numpy only; runs on a CPU.

The process is described by ``ac``: ᾱ at each kept timestep, ascending in t (index 0 is the least noisy),
exactly as the toolkit's ``index`` contract: the step at ``index`` goes from ᾱ_t = ac[index] to
ᾱ_s = ac[index - 1], and to ᾱ = 1 (no noise) at index 0. Only the ε̂ channels of the DiT's [ε̂ | v] output
are used: these samplers follow the probability-flow ODE, which needs no variance.

Float32 rounding: every coefficient is computed in float64 (Python floats, numpy) and rounded to float32
once; the tensors are float32, and each operation rounds as torch's CPU kernels do. Coefficients are
full tensors (``_c``), so every operation is a plain elementwise float32 one.

- DPM-Solver++(2M): Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
  Probabilistic Models", Algorithm 2; as diffusers' DPMSolverMultistepScheduler computes it with
  algorithm_type "dpmsolver++", solver_order 2, final_sigmas_type "zero" (the final step is first order): here
  the last two steps are first order, the one onto t = 0 (index 1: λ jumps there, and the multistep
  extrapolation would amplify x̂0's last change, speckling the samples) and the one from t = 0 to σ = 0.
- Euler and Heun on Karras sigmas: Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
  Generative Models", eq. 5 (the ρ = 7 spacing) and Algorithm 1 (Heun's second order step).
- Guidance interval: Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample
  and Distribution Quality in Diffusion Models".
"""
import math

import numpy as np
import torch

SAMPLERS = ("dpm++2m", "euler", "heun")


def _c(value, like):
    """A float64 coefficient rounded to float32, as a tensor of `like`'s shape."""
    return torch.full_like(like, float(value))


def respaced_alphas_cumprod(ac_full, timesteps):
    """ᾱ at the kept `timesteps` (ascending), as the reference's SpacedDiffusion computes it: β re-derived
    from consecutive ᾱ, then their cumulative product again (equal to ac_full[timesteps] up to float64
    rounding, and rounded the same way as the toolkit's createDiffusion)."""
    betas, last = [], 1.0
    for t in timesteps:
        betas.append(1.0 - ac_full[t] / last)
        last = ac_full[t]
    return np.cumprod(1.0 - np.array(betas, dtype=np.float64))


def _alpha_bar_prev(ac, index):
    """ᾱ of the step after `index` (the less noisy one): 1 after the last step."""
    return 1.0 if index == 0 else float(ac[index - 1])


# ---- DPM-Solver++(2M) -------------------------------------------------------------------------------------
def _log_snr_half(alpha_bar):
    """λ = log(α/σ) = ½·log(ᾱ/(1 − ᾱ)), the half log-SNR the solver steps in."""
    return 0.5 * math.log(alpha_bar / (1.0 - alpha_bar))


def dpm_solver_step(ac, eps, x, index, previous=None):
    """One DPM-Solver++(2M) step from x_t (at ac[index]) to x_s; returns (x_s, x̂0).

    previous: (x̂0, index) of the step before (a noisier index), or None on the first step. With it the step
    is second order, except the last two: onto t = 0 (index 1) first order, and to ᾱ = 1, σ = 0 (index 0)
    landing on x̂0.
    """
    a_t = float(ac[index])
    alpha_t, sigma_t = math.sqrt(a_t), math.sqrt(1.0 - a_t)
    x0 = (x - _c(sigma_t, x) * eps) / _c(alpha_t, x)  # data prediction x̂0 = (x − σ_t·ε̂)/α_t
    if index == 0:
        return x0, x0
    a_s = _alpha_bar_prev(ac, index)
    alpha_s, sigma_s = math.sqrt(a_s), math.sqrt(1.0 - a_s)
    lam_t = _log_snr_half(a_t)
    h = _log_snr_half(a_s) - lam_t
    d = x0
    if previous is not None and index > 1:
        x0_prev, index_prev = previous
        h_prev = lam_t - _log_snr_half(float(ac[index_prev]))
        # D = x̂0 + (1/(2r))·(x̂0 − x̂0_prev), r = h_prev/h: the multistep estimate of x̂0 at the midpoint
        d = x0 + _c(h / (2.0 * h_prev), x) * (x0 - x0_prev)
    # x_s = (σ_s/σ_t)·x − α_s·(e^{−h} − 1)·D
    sample = _c(sigma_s / sigma_t, x) * x + _c(-alpha_s * math.expm1(-h), x) * d
    return sample, x0


# ---- Euler and Heun on Karras sigmas ------------------------------------------------------------------------
def karras_schedule(ac_full, steps, rho=7.0):
    """Karras et al.'s ρ-spaced noise levels over the process `ac_full`, snapped to its timesteps.

    σ(t) = √((1 − ᾱ_t)/ᾱ_t); σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i = 0 … N−1,
    each snapped to the timestep nearest in log σ (the network takes integer t) and replaced by that
    timestep's exact σ. Several σ_i may snap to one timestep where timesteps are sparse in σ (near t = 0 with
    100 or more steps over 1000): repeats are dropped, so there may be fewer than N steps.

    Returns (timesteps, descending; sigmas, one per timestep then 0; ideal, the N σ_i before snapping).
    """
    ac_full = np.asarray(ac_full, dtype=np.float64)
    sigma_all = np.sqrt((1.0 - ac_full) / ac_full)
    log_sigma_all = np.log(sigma_all)
    top, bottom = sigma_all[-1] ** (1.0 / rho), sigma_all[0] ** (1.0 / rho)
    ideal = np.array([(top + (i / (steps - 1) if steps > 1 else 0.0) * (bottom - top)) ** rho for i in range(steps)])
    timesteps = []
    for sigma in ideal:
        t = int(np.argmin(np.abs(math.log(sigma) - log_sigma_all)))
        if not timesteps or timesteps[-1] != t:
            timesteps.append(t)
    sigmas = np.append(sigma_all[timesteps], 0.0)
    return timesteps, sigmas, ideal


def _sigma(alpha_bar):
    """σ = √((1 − ᾱ)/ᾱ) = √(1/ᾱ − 1): the noise level of x̃ = x/α; 0 at ᾱ = 1."""
    return math.sqrt(1.0 / alpha_bar - 1.0)


def _slope(x, eps, alpha_bar):
    """x̃ = x/α (variance exploding), x̂0 = x̃ − σ·ε̂ and the ODE's slope dx̃/dσ = (x̃ − x̂0)/σ at ᾱ."""
    sigma = _sigma(alpha_bar)
    x_ve = x * _c(math.sqrt(1.0 / alpha_bar), x)  # 1/α = √(1 + σ²)
    x0 = x_ve - _c(sigma, x) * eps
    return x_ve, x0, (x_ve - x0) / _c(sigma, x)


def _to_vp(x_ve, alpha_bar):
    """x = x̃/√(1 + σ²), back to the model's (variance preserving) space."""
    return x_ve / _c(math.sqrt(1.0 / alpha_bar), x_ve)


def euler_step(ac, eps, x, index):
    """One Euler step of the probability-flow ODE from σ_t (at ac[index]) to σ_s; returns (x_s, x̂0)."""
    a_t, a_s = float(ac[index]), _alpha_bar_prev(ac, index)
    x_ve, x0, d = _slope(x, eps, a_t)
    x_ve = x_ve + _c(_sigma(a_s) - _sigma(a_t), x) * d
    return _to_vp(x_ve, a_s), x0


def heun_step(ac, eps, x, index, proposal, eps_proposal):
    """Heun's step: Euler's `proposal` at σ_s and the network's ε̂ there give a second slope; the step
    follows their average (Karras et al. Algorithm 1). Only for index > 0 (σ_s > 0); returns (x_s, x̂0)."""
    assert index > 0, "the last step (to σ = 0) has no Heun correction: use euler_step"
    a_t, a_s = float(ac[index]), _alpha_bar_prev(ac, index)
    x_ve, x0, d = _slope(x, eps, a_t)
    _, _, d_proposal = _slope(proposal, eps_proposal, a_s)
    x_ve = x_ve + _c(_sigma(a_s) - _sigma(a_t), x) * ((d + d_proposal) / 2)
    return _to_vp(x_ve, a_s), x0


# ---- Guidance interval ------------------------------------------------------------------------------------------
def guided_at(t, interval=None):
    """Whether a network evaluation at timestep t is guided: always without an interval, else lo <= t <= hi."""
    return interval is None or interval[0] <= t <= interval[1]


# ---- The whole loop ---------------------------------------------------------------------------------------------
@torch.no_grad()
def sample(eps_fn, ac_full, timesteps, sampler, x):
    """Runs `sampler` from x_T = x over the kept `timesteps` (ascending) of the process `ac_full`.

    eps_fn(x, t) returns ε̂ for x at the integer timestep t (guided or not, as the caller decides, e.g. with
    guided_at). Even respacing suits "dpm++2m", karras_schedule's timesteps suit "euler" and "heun".
    Returns the trajectory [(x_{t-1}, x̂0) per step] and the number of network evaluations.
    """
    assert sampler in SAMPLERS, sampler
    ac = respaced_alphas_cumprod(np.asarray(ac_full, dtype=np.float64), timesteps)
    trajectory, evaluations, previous = [], 0, None
    for index in reversed(range(len(timesteps))):
        eps = eps_fn(x, timesteps[index])
        evaluations += 1
        if sampler == "dpm++2m":
            x, x0 = dpm_solver_step(ac, eps, x, index, previous)
            previous = (x0, index)
        elif sampler == "heun" and index > 0:
            proposal, _ = euler_step(ac, eps, x, index)
            eps_proposal = eps_fn(proposal, timesteps[index - 1])
            evaluations += 1
            x, x0 = heun_step(ac, eps, x, index, proposal, eps_proposal)
        else:
            x, x0 = euler_step(ac, eps, x, index)
        trajectory.append((x, x0))
    return trajectory, evaluations
