"""The loss of the additive error head: how large the network expects its own error to be.

Why this way: the head rides on the same cross-combined pairs as the increment, and costs
one small MLP per batch. Its target is the *detached* residual of the increment, so the
Gaussian negative log-likelihood teaches only the head (a per-DoF log-variance) and
never bends the increment towards being easy to predict the error of.
"""

from __future__ import annotations

import torch


def error_head_loss(log_var: torch.Tensor, pred: torch.Tensor, label: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
    """Gaussian NLL (without the constant) of the detached residual ``pred - label`` under
    ``N(0, exp(log_var))``, averaged over the DoF each pair's object refines."""
    residual = (pred.detach() - label).square()
    nll = 0.5 * (residual * torch.exp(-log_var) + log_var)
    return (nll * mask).sum() / mask.sum().clamp_min(1.0)


__all__ = ["error_head_loss"]
