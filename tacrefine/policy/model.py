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
* separate heads regress the translation and the rotation DoF.

Inputs and outputs are *normalised*: tactile images scaled to [0, 1], joints and labels
standardised with statistics of the training split (:class:`Normalizer`). The network
knows nothing of millimetres; :class:`Normalizer` converts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tacrefine.config import ConfigError, require, require_positive
from tacrefine.geometry import ROTATION_DOFS, TRANSLATION_DOFS, validate_dofs


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelConfig:
    """Shape and size of :class:`TacRefineNet`, plus the ablation switches.

    Attributes:
        dofs: refined DoF the network predicts, canonical order (``x y z roll pitch yaw``).
            ``None`` means "fill in from the dataset" (training does); a network cannot be
            built until it is set.
        num_fingers: fingers of the hand (size of the finger-identity table); ``None`` =
            from the dataset.
        in_channels: tactile channels per finger (1 normal, 3 with shear); ``None`` = from
            the dataset.
        width: token / feature width ``D`` used throughout the network.
        conv_channels: output channels of the encoder's 3x3 convolutions.
        conv_strides: stride of each convolution (same length as ``conv_channels``).
        token_grid: (rows, cols) the encoder pools onto; each cell becomes one token.
        num_heads: attention heads (must divide ``width``).
        finger_layers: Transformer encoder layers across fingers.
        proprio_hidden: width of the proprioception MLP.
        head_hidden: hidden width of the translation and rotation heads.
        dropout: dropout in attention and heads (0 keeps training deterministic per seed).
        coord_channels: append (row, col) coordinate maps to the encoder input.
        use_touch: ablation; ``False`` leaves proprioception only.
        use_target_image: ablation; ``False`` encodes the current image only.
        use_proprio: ablation; ``False`` ignores the joints.
        fingers_used: ablation; indices of the fingers whose *tactile* images are read
            (``None`` = all). Joints of every finger are still read: encoders are not touch.
    """

    dofs: tuple[str, ...] | None = None
    num_fingers: int | None = None
    in_channels: int | None = None
    width: int = 64
    conv_channels: tuple[int, ...] = (16, 32, 64)
    conv_strides: tuple[int, ...] = (1, 2, 1)
    token_grid: tuple[int, int] = (4, 4)
    num_heads: int = 4
    finger_layers: int = 1
    proprio_hidden: int = 64
    head_hidden: int = 128
    dropout: float = 0.0
    coord_channels: bool = True
    use_touch: bool = True
    use_target_image: bool = True
    use_proprio: bool = True
    fingers_used: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        p = "model."
        if self.dofs is not None:
            try:
                object.__setattr__(self, "dofs", validate_dofs(self.dofs, p + "dofs"))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for name in ("num_fingers", "in_channels"):
            value = getattr(self, name)
            require(value is None or (_is_int(value) and value >= 1), p + name,
                    "an integer >= 1, or null to take it from the dataset", value)
        for name in ("width", "num_heads", "finger_layers", "proprio_hidden", "head_hidden"):
            value = getattr(self, name)
            require(_is_int(value) and value >= 1, p + name, "an integer >= 1", value)
        require(self.width % self.num_heads == 0, p + "num_heads", f"a divisor of model.width={self.width}",
                self.num_heads)
        require(len(self.conv_channels) >= 1 and all(_is_int(c) and c >= 1 for c in self.conv_channels),
                p + "conv_channels", "a non-empty list of integers >= 1", list(self.conv_channels))
        require(len(self.conv_strides) == len(self.conv_channels)
                and all(_is_int(s) and s in (1, 2) for s in self.conv_strides),
                p + "conv_strides", "a list of 1 or 2, as long as model.conv_channels",
                list(self.conv_strides))
        require(len(self.token_grid) == 2 and all(_is_int(g) and g >= 1 for g in self.token_grid),
                p + "token_grid", "two integers >= 1 (rows, cols)", list(self.token_grid))
        require_positive(p + "dropout", self.dropout, allow_zero=True)
        require(self.dropout < 1.0, p + "dropout", "a number in [0, 1)", self.dropout)
        require(self.use_touch or self.use_proprio, p + "use_proprio",
                "true when model.use_touch is false (the network needs some input)", self.use_proprio)
        if self.fingers_used is not None:
            fu = self.fingers_used
            ok = len(fu) >= 1 and len(set(fu)) == len(fu) and all(_is_int(i) and i >= 0 for i in fu)
            if ok and self.num_fingers is not None:
                ok = all(i < self.num_fingers for i in fu)
            require(ok, p + "fingers_used",
                    f"null or distinct finger indices in [0, {self.num_fingers or 'num_fingers'})", list(fu))

    @property
    def is_resolved(self) -> bool:
        """True once the data-dependent fields are set."""
        return self.dofs is not None and self.num_fingers is not None and self.in_channels is not None

    def resolved(self, dofs: Sequence[str], num_fingers: int, in_channels: int) -> ModelConfig:
        """Fill the data-dependent fields, refusing values that contradict the data."""
        dofs = validate_dofs(dofs)
        given = {"dofs": dofs, "num_fingers": num_fingers, "in_channels": in_channels}
        for name, value in given.items():
            mine = getattr(self, name)
            require(mine is None or mine == value, f"model.{name}",
                    f"null or the dataset's value {value!r}", mine)
        return dataclasses.replace(self, **given)


@dataclass
class Normalizer:
    """Statistics of the training split that map physical values to the network's space.

    Attributes:
        label_mean, label_std: per refined DoF, in mm / deg.
        joint_mean, joint_std: per finger, in metres; current and target joints share them
            (they come from the same distribution of grasps).
    """

    label_mean: np.ndarray
    label_std: np.ndarray
    joint_mean: np.ndarray
    joint_std: np.ndarray

    #: Floors on the std so that a DoF or joint that never varies does not divide by ~0.
    MIN_LABEL_STD = 1e-3
    MIN_JOINT_STD = 1e-6

    def __post_init__(self) -> None:
        self.label_mean = np.asarray(self.label_mean, dtype=np.float32).reshape(-1)
        self.label_std = np.maximum(np.asarray(self.label_std, dtype=np.float32).reshape(-1),
                                    self.MIN_LABEL_STD)
        self.joint_mean = np.asarray(self.joint_mean, dtype=np.float32).reshape(-1)
        self.joint_std = np.maximum(np.asarray(self.joint_std, dtype=np.float32).reshape(-1),
                                    self.MIN_JOINT_STD)
        if self.label_mean.shape != self.label_std.shape or self.joint_mean.shape != self.joint_std.shape:
            raise ValueError("Normalizer: mean and std shapes differ")

    @classmethod
    def fit(cls, labels: np.ndarray, joints: np.ndarray) -> Normalizer:
        """Statistics from ``labels`` (N, n_dofs) mm/deg and ``joints`` (M, fingers) metres."""
        labels = np.asarray(labels, dtype=np.float64)
        joints = np.asarray(joints, dtype=np.float64)
        return cls(labels.mean(0), labels.std(0), joints.mean(0), joints.std(0))

    def proprio(self, cur_joints: np.ndarray, tgt_joints: np.ndarray) -> np.ndarray:
        """Standardised ``(..., 2F)`` proprioception: current joints then target joints."""
        cur = (np.asarray(cur_joints, np.float32) - self.joint_mean) / self.joint_std
        tgt = (np.asarray(tgt_joints, np.float32) - self.joint_mean) / self.joint_std
        return np.concatenate([cur, tgt], axis=-1).astype(np.float32)

    def normalize_label(self, label: np.ndarray) -> np.ndarray:
        return ((np.asarray(label, np.float32) - self.label_mean) / self.label_std).astype(np.float32)

    def denormalize_label(self, value: np.ndarray) -> np.ndarray:
        return (np.asarray(value, np.float32) * self.label_std + self.label_mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists, so a checkpoint holding them loads with ``weights_only=True``."""
        return {k: getattr(self, k).astype(float).tolist()
                for k in ("label_mean", "label_std", "joint_mean", "joint_std")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        return cls(**{k: np.asarray(data[k], dtype=np.float32)
                      for k in ("label_mean", "label_std", "joint_mean", "joint_std")})


def tactile_to_tensor(tactile: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (0-255) -> float32 tensor in [0, 1], the network's tactile input."""
    return torch.as_tensor(tactile).to(torch.float32) * (1.0 / 255.0)  # never in place: may alias the input


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
        self.trans_idx = [i for i, n in enumerate(dofs) if n in TRANSLATION_DOFS]
        self.rot_idx = [i for i, n in enumerate(dofs) if n in ROTATION_DOFS]
        self.n_dofs = len(dofs)
        hidden = cfg.head_hidden
        self.trans_head = _mlp(features, hidden, len(self.trans_idx), cfg.dropout) if self.trans_idx else None
        self.rot_head = _mlp(features, hidden, len(self.rot_idx), cfg.dropout) if self.rot_idx else None

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

    def forward(self, cur_tactile: torch.Tensor | None, tgt_tactile: torch.Tensor | None,
                proprio: torch.Tensor) -> torch.Tensor:
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
        x = torch.cat(feats, dim=1)
        out = x.new_zeros(x.shape[0], self.n_dofs)
        if self.trans_head is not None:
            out[:, self.trans_idx] = self.trans_head(x)
        if self.rot_head is not None:
            out[:, self.rot_idx] = self.rot_head(x)
        return out


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
