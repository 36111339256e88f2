"""Gaussian diffusion for training and evaluating the recipe's DiTs, as the reference trains them:
linear β schedule over 1000 steps, ε-prediction MSE plus the variational-bound term that teaches the
learned-range variance (Nichol & Dhariwal's "hybrid" loss), and DDIM sampling with classifier-free guidance.
The TypeScript toolkit's lib/diffusion.ts computes the same tables; these are the training-side uses.
"""
import math

import numpy as np
import torch


def linear_betas(num_timesteps=1000):
    scale = 1000 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def normal_kl(mean1, logvar1, mean2, logvar2):
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def standard_normal_cdf(x):
    """A fast, accurate approximation of Φ(x) (the one the DDPM line of code uses)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    """log p(x) for data on 256 bins in [-1, 1] under N(means, e^(2·log_scales)); the decoder term at t = 0."""
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_probs = torch.where(
        x < -0.999, log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, torch.log((cdf_plus - cdf_min).clamp(min=1e-12))),
    )
    return log_probs


class Diffusion:
    """Tables in float64, used as float32 tensors on the model's device."""

    def __init__(self, betas, device):
        self.num_timesteps = len(betas)
        ac = np.cumprod(1.0 - betas)
        ac_prev = np.append(1.0, ac[:-1])
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
        tables = dict(
            betas=betas, alphas_cumprod=ac, alphas_cumprod_prev=ac_prev,
            sqrt_ac=np.sqrt(ac), sqrt_1m_ac=np.sqrt(1.0 - ac),
            sqrt_recip_ac=np.sqrt(1.0 / ac), sqrt_recipm1_ac=np.sqrt(1.0 / ac - 1.0),
            post_logvar=np.log(np.append(post_var[1], post_var[1:])), log_betas=np.log(betas),
            coef1=betas * np.sqrt(ac_prev) / (1.0 - ac), coef2=(1.0 - ac_prev) * np.sqrt(1.0 - betas) / (1.0 - ac),
        )
        self.t = {k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in tables.items()}

    def at(self, name, t, x):
        """Table `name` at per-sample indices t, shaped to broadcast against x."""
        return self.t[name][t].reshape(-1, *([1] * (x.dim() - 1)))

    def q_sample(self, x0, t, noise):
        return self.at("sqrt_ac", t, x0) * x0 + self.at("sqrt_1m_ac", t, x0) * noise

    def posterior(self, x0, xt, t):
        """Mean and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        return self.at("coef1", t, xt) * x0 + self.at("coef2", t, xt) * xt, self.at("post_logvar", t, xt)

    def p_mean_logvar(self, eps, v, xt, t):
        """p(x_{t-1} | x_t) from ε̂ and the variance interpolation v ∈ [-1, 1] (learned range), with x̂0 unclipped."""
        frac = (v + 1) / 2
        logvar = frac * self.at("log_betas", t, xt) + (1 - frac) * self.at("post_logvar", t, xt)
        x0 = self.at("sqrt_recip_ac", t, xt) * xt - self.at("sqrt_recipm1_ac", t, xt) * eps
        mean, _ = self.posterior(x0, xt, t)
        return mean, logvar, x0

    def training_losses(self, model, x0, t, y):
        """Per-sample loss: MSE on ε plus the variational-bound term (in bits per dim) for the variance.

        The bound term sees ε̂ through a stop-gradient, so it trains only the variance output, as the reference.
        """
        noise = torch.randn_like(x0)
        xt = self.q_sample(x0, t, noise)
        eps, v = model(xt, t, y).chunk(2, dim=1)
        mse = ((noise - eps) ** 2).mean(dim=(1, 2, 3))
        true_mean, true_logvar = self.posterior(x0, xt, t)
        mean, logvar, _ = self.p_mean_logvar(eps.detach(), v, xt, t)
        kl = normal_kl(true_mean, true_logvar, mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl)
        return mse + vb, mse, vb


def ddim_timesteps(num_timesteps, steps):
    """The reference's even respacing (space_timesteps with one section), as lib/schedule.ts."""
    stride = (num_timesteps - 1) / (steps - 1) if steps > 1 else 1
    kept, position = [], 0.0
    for _ in range(steps):
        kept.append(round(position))
        position += stride
    return sorted(set(kept))


@torch.no_grad()
def ddim_sample(model, betas, labels, null_label, shape, guidance_scale, steps=50, generator=None, x_T=None):
    """DDIM (eta = 0) over `steps` respaced steps with classifier-free guidance on every ε channel.

    The conditional and null-class halves run as one batch, as the toolkit's sampler does. `labels` are class ids
    [N] with the null class `null_label`, or a text DiT's word ids [N, L] with the null caption's row `null_label`.
    x_T is drawn from `generator`, unless given.
    """
    device = labels.device
    kept = ddim_timesteps(len(betas), steps)
    base_ac = np.cumprod(1.0 - betas)
    ac = base_ac[kept]
    ac_prev = np.append(1.0, ac[:-1])
    x = torch.randn(shape, generator=generator, device=device) if x_T is None else x_T
    nulls = (torch.full_like(labels, null_label) if labels.dim() == 1
             else torch.as_tensor(null_label, device=device).expand_as(labels))
    both_labels = torch.cat([labels, nulls])
    for i in reversed(range(len(kept))):
        t = torch.full((2 * shape[0],), kept[i], device=device, dtype=torch.long)
        out = model(torch.cat([x, x]), t, both_labels)
        eps_cond, eps_uncond = out[:, : shape[1]].chunk(2)
        eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
        x0 = math.sqrt(1.0 / ac[i]) * x - math.sqrt(1.0 / ac[i] - 1.0) * eps
        x = math.sqrt(ac_prev[i]) * x0 + math.sqrt(1.0 - ac_prev[i]) * eps
    return x
