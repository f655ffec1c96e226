"""TacRefineNet: predicts the wrist increment that turns the current grasp into the target.

The network follows the second version of the paper (arXiv 2509.25746 v2):

* one small CNN encodes every fingertip image; the same weights serve every finger and
  both the current and the target image (Siamese), so the two images of a finger live in
  one feature space and their comparison is meaningful;
* the encoder ends in adaptive pooling onto a fixed token grid, so any sensor resolution
  works, and two coordinate channels are appended to the input so that features know
  *where* on the pad they are (position is what the increment is about);
* per finger, the current tokens query the target tokens by cross-attention (finding
  where the current contact pattern sits in the target one) and a difference feature
  (current - target tokens) is kept alongside; both are flattened so that the spatial
  layout survives into the finger token;
* a learned finger-identity embedding is added to each finger token, and a small
  Transformer encoder attends across fingers (a learned readout token collects them), so
  any number of fingers works and each finger's evidence is weighed against the others;
* a proprioception MLP reads current and target finger joints (and their difference);
* the heads cover the *union* of the DoF that any object class refines; a per-sample
  DoF mask (which of them this object's class refines) is read beside the features, and
  training masks the loss to the active DoF (a rod's y label is not its business);
* separate heads regress the translation and the rotation DoF;
* an optional additive error head (``cfg.error_head``) reads the *detached* features and
  the detached prediction and returns a log-variance per DoF: how large the network
  expects its own error to be (trained by Gaussian NLL, :mod:`tacrefine.training.assess_loss`).
  Detached, it cannot change the increment; absent (old checkpoints), nothing changes.

Inputs and outputs are *normalised*: tactile images scaled to [0, 1], joints and labels
standardised with statistics of the training split (:class:`Normalizer`). The network
knows nothing of millimetres; :class:`Normalizer` converts.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from tacrefine.config import ConfigError
from tacrefine.geometry import ROTATION_DOFS, TRANSLATION_DOFS
from tacrefine.policy.model_config import ModelConfig
from tacrefine.policy.normalizer import Normalizer, tactile_to_tensor

#: bounds of the error head's log-variance (normalised label units): keeps exp() finite
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 8.0


def _mlp(inp: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out))


class TactileEncoder(nn.Module):
    """Shared CNN: one pad image ``(N, C, H, W)`` -> tokens ``(N, G_r * G_c, D)``.

    Coordinate channels give absolute pad position to the convolutions (padding alone
    only tells them about the borders); adaptive pooling onto the token grid makes the
    output independent of the sensor resolution; a learned positional embedding per grid
    cell lets attention tell tokens apart.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.coord_channels = cfg.coord_channels
        layers: list[nn.Module] = []
        prev = int(cfg.in_channels or 1) + (2 if cfg.coord_channels else 0)
        for ch, stride in zip(cfg.conv_channels, cfg.conv_strides):
            layers += [nn.Conv2d(prev, ch, 3, stride=stride, padding=1),
                       nn.GroupNorm(min(8, ch), ch), nn.ReLU(inplace=True)]
            prev = ch
        layers += [nn.AdaptiveAvgPool2d(tuple(cfg.token_grid)), nn.Conv2d(prev, cfg.width, 1)]
        self.net = nn.Sequential(*layers)
        n_tokens = cfg.token_grid[0] * cfg.token_grid[1]
        self.pos = nn.Parameter(torch.randn(1, n_tokens, cfg.width) * 0.02)
        self._coords: dict[tuple[int, int], torch.Tensor] = {}

    def _coord_maps(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        key = (h, w)
        if key not in self._coords:
            rows = torch.linspace(-1.0, 1.0, h).view(h, 1).expand(h, w)
            cols = torch.linspace(-1.0, 1.0, w).view(1, w).expand(h, w)
            self._coords[key] = torch.stack([rows, cols]).unsqueeze(0)
        return self._coords[key].to(like)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.coord_channels:
            n, _, h, w = images.shape
            images = torch.cat([images, self._coord_maps(h, w, images).expand(n, -1, -1, -1)], dim=1)
        feats = self.net(images)  # (N, D, Gr, Gc)
        return feats.flatten(2).transpose(1, 2) + self.pos


class CrossFusion(nn.Module):
    """Current tokens query target tokens; the result is kept with the plain difference.

    Returns one vector per finger: ``Linear([flatten(fused), flatten(cur - tgt)])``.
    Flattening (instead of averaging) keeps which grid cell each feature came from.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.width
        n_tokens = cfg.token_grid[0] * cfg.token_grid[1]
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(d)
        self.ff = _mlp(d, 2 * d, d, cfg.dropout)
        self.proj = nn.Sequential(nn.Linear(2 * n_tokens * d, d), nn.GELU(), nn.LayerNorm(d))

    def forward(self, cur: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(tgt)
        attended, _ = self.attn(self.norm_q(cur), kv, kv, need_weights=False)
        fused = cur + attended
        fused = fused + self.ff(self.norm_ff(fused))
        return self.proj(torch.cat([fused.flatten(1), (cur - tgt).flatten(1)], dim=1))


class TacRefineNet(nn.Module):
    """Tactile grasp-refinement network; see the module docstring for the architecture.

    ``forward(cur_tactile, tgt_tactile, proprio)``:
        cur_tactile, tgt_tactile: float ``(B, F, C, H, W)`` in [0, 1] (ignored when the
            config switches them off; may then be ``None``).
        proprio: float ``(B, 2F)`` standardised current then target joints.
        dof_mask: optional ``(B, n_dofs)``, 1 where the object's class refines the DoF
            (``None`` = all); read only when ``cfg.use_dof_mask``. Outputs of inactive DoF
            are not zeroed here: the loss ignores them and the policy does not apply them.
        returns: ``(B, n_dofs)`` normalised increment over ``cfg.dofs``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if not cfg.is_resolved:
            missing = [n for n in ("dofs", "num_fingers", "in_channels") if getattr(cfg, n) is None]
            raise ConfigError(f"model.{missing[0]}: got None; allowed: a value (training fills "
                              "dofs, num_fingers and in_channels from the dataset)")
        self.cfg = cfg
        dofs = tuple(cfg.dofs or ())
        d = cfg.width
        self.fingers = tuple(cfg.fingers_used) if cfg.fingers_used is not None else tuple(
            range(int(cfg.num_fingers or 0)))
        self.register_buffer("finger_index", torch.tensor(self.fingers, dtype=torch.long), persistent=False)
        features = 0
        if cfg.use_touch:
            self.encoder = TactileEncoder(cfg)
            n_tokens = cfg.token_grid[0] * cfg.token_grid[1]
            if cfg.use_target_image:
                self.fusion: nn.Module = CrossFusion(cfg)
            else:
                self.fusion = nn.Sequential(nn.Flatten(1), nn.Linear(n_tokens * d, d), nn.GELU(),
                                            nn.LayerNorm(d))
            self.finger_embed = nn.Embedding(int(cfg.num_fingers or 0), d)
            self.readout = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            layer = nn.TransformerEncoderLayer(d, cfg.num_heads, dim_feedforward=2 * d, dropout=cfg.dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.across = nn.TransformerEncoder(layer, cfg.finger_layers, enable_nested_tensor=False)
            self.touch_norm = nn.LayerNorm(d)
            features += d
        if cfg.use_proprio:
            self.proprio_net = nn.Sequential(
                nn.Linear(3 * int(cfg.num_fingers or 0), cfg.proprio_hidden), nn.GELU(),
                nn.Linear(cfg.proprio_hidden, cfg.proprio_hidden), nn.GELU())
            features += cfg.proprio_hidden
        if cfg.use_dof_mask:
            features += len(dofs)  # the mask rides along with the features into the heads
        self.trans_idx = [i for i, n in enumerate(dofs) if n in TRANSLATION_DOFS]
        self.rot_idx = [i for i, n in enumerate(dofs) if n in ROTATION_DOFS]
        self.n_dofs = len(dofs)
        hidden = cfg.head_hidden
        self.trans_head = _mlp(features, hidden, len(self.trans_idx), cfg.dropout) if self.trans_idx else None
        self.rot_head = _mlp(features, hidden, len(self.rot_idx), cfg.dropout) if self.rot_idx else None
        # built last: the other parameters draw the same initial values with or without it
        self.error_head = _mlp(features + self.n_dofs, hidden // 2, self.n_dofs, 0.0) if cfg.error_head else None

    def _check_tactile(self, name: str, t: torch.Tensor | None) -> torch.Tensor:
        want_f, want_c = self.cfg.num_fingers, self.cfg.in_channels
        if t is None or t.ndim != 5 or t.shape[1] != want_f or t.shape[2] != want_c:
            shape = None if t is None else tuple(t.shape)
            raise ValueError(f"TacRefineNet: {name} must be (B, {want_f}, {want_c}, H, W); got {shape}")
        return t

    def _touch(self, cur: torch.Tensor, tgt: torch.Tensor | None) -> torch.Tensor:
        b = cur.shape[0]
        cur = cur.index_select(1, self.finger_index)
        nf = cur.shape[1]
        if tgt is not None:
            # One encoder pass over current and target images of every finger (Siamese).
            tgt = tgt.index_select(1, self.finger_index)
            tokens = self.encoder(torch.cat([cur, tgt], dim=0).flatten(0, 1))
            cur_tok, tgt_tok = tokens.split(b * nf, dim=0)
            finger = self.fusion(cur_tok, tgt_tok)
        else:
            finger = self.fusion(self.encoder(cur.flatten(0, 1)))
        finger = finger.view(b, nf, -1) + self.finger_embed(self.finger_index)
        seq = torch.cat([self.readout.expand(b, -1, -1), finger], dim=1)
        return self.touch_norm(self.across(seq)[:, 0])

    def _mask(self, dof_mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """The DoF mask as float ``(B, n_dofs)``; ``None`` = every DoF active."""
        b = like.shape[0]
        if dof_mask is None:
            return like.new_ones(b, self.n_dofs)
        if dof_mask.shape != (b, self.n_dofs):
            raise ValueError(f"TacRefineNet: dof_mask must be (B, {self.n_dofs}) over {list(self.cfg.dofs or ())}; "
                             f"got {tuple(dof_mask.shape)}")
        return dof_mask.to(like.dtype)

    def forward(self, cur_tactile: torch.Tensor | None, tgt_tactile: torch.Tensor | None,
                proprio: torch.Tensor, dof_mask: torch.Tensor | None = None,
                with_error: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """The normalised increment; with ``with_error`` also the error head's log-variance
        ``(B, n_dofs)`` (``None`` without an error head)."""
        feats = []
        if self.cfg.use_touch:
            cur = self._check_tactile("cur_tactile", cur_tactile)
            tgt = self._check_tactile("tgt_tactile", tgt_tactile) if self.cfg.use_target_image else None
            feats.append(self._touch(cur, tgt))
        if self.cfg.use_proprio:
            nf = int(self.cfg.num_fingers or 0)
            if proprio.ndim != 2 or proprio.shape[1] != 2 * nf:
                raise ValueError(f"TacRefineNet: proprio must be (B, {2 * nf}); got {tuple(proprio.shape)}")
            cur_j, tgt_j = proprio[:, :nf], proprio[:, nf:]
            feats.append(self.proprio_net(torch.cat([cur_j, tgt_j, cur_j - tgt_j], dim=1)))
        if self.cfg.use_dof_mask:
            feats.append(self._mask(dof_mask, feats[0]))
        x = torch.cat(feats, dim=1)
        out = x.new_zeros(x.shape[0], self.n_dofs)
        if self.trans_head is not None:
            out[:, self.trans_idx] = self.trans_head(x)
        if self.rot_head is not None:
            out[:, self.rot_idx] = self.rot_head(x)
        if not with_error:
            return out
        if self.error_head is None:
            return out, None
        log_var = self.error_head(torch.cat([x.detach(), out.detach()], dim=1))
        return out, log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure_inference_latency(model: TacRefineNet, rows: int, cols: int, repeats: int = 200,
                              warmup: int = 20, num_threads: int | None = 1) -> dict[str, float]:
    """CPU latency of one decision (batch of 1, network only) in milliseconds.

    Why a separate function: the benchmark reports it next to the paper's 10 ms on a
    Jetson; preprocessing of the observation (normalising, uint8 -> float) is a few
    microseconds and is measured by timing :meth:`LearnedPolicy.act` instead.
    ``num_threads`` sets torch's intra-op threads for the measurement (restored after).
    """
    cfg = model.cfg
    nf, ch = int(cfg.num_fingers or 0), int(cfg.in_channels or 0)
    gen = torch.Generator().manual_seed(0)
    cur = torch.rand(1, nf, ch, rows, cols, generator=gen)
    tgt = torch.rand(1, nf, ch, rows, cols, generator=gen)
    proprio = torch.randn(1, 2 * nf, generator=gen)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                t0 = time.perf_counter()
                model(cur, tgt, proprio)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old_threads)
        model.train(was_training)
    ms = np.asarray(times) * 1e3
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(ms.mean()), "threads": float(num_threads or old_threads)}


__all__ = ["CrossFusion", "ModelConfig", "Normalizer", "TacRefineNet", "TactileEncoder", "count_parameters",
           "measure_inference_latency", "tactile_to_tensor"]
