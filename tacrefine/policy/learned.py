"""The learned policy: a trained TacRefineNet checkpoint behind the ``act(obs)`` interface.

Design (one way in): the network predicts the wrist increment in physical units (mm for
translations, degrees for rotations) - :meth:`LearnedPolicy.predict_increment`. An env
action is that increment divided by the env's largest step per DoF, clipped to [-1, 1] -
:meth:`LearnedPolicy.act`. The policy therefore needs the env's ``action_scale``
(mm / deg per DoF). It gets it from :meth:`LearnedPolicy.bind_env`, which also refuses an
env whose refined DoF or tactile shape differ from the checkpoint's, or - without an env -
from the ``action_scale`` constructor argument.

Typical use::

    env = gym.make("tacrefine/GripRefine-v0")
    policy = LearnedPolicy("runs/default/best.pt").bind_env(env)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(policy.act(obs))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacrefine.policy.baselines import Policy
from tacrefine.policy.model import tactile_to_tensor
from tacrefine.training.checkpoint import load_model


class LearnedPolicy(Policy):
    """Acts from touch with a trained TacRefineNet.

    Args:
        checkpoint_path: a ``.pt`` file written by training (``best.pt`` / ``last.pt``).
        action_scale: largest env step per refined DoF in mm / deg, as a mapping
            ``{dof: value}`` (extra DoF ignored) or a sequence in the checkpoint's DoF order.
            Optional: :meth:`bind_env` sets it from the env; :meth:`act` needs one of the two.
        num_threads: torch intra-op threads to use (``None`` leaves torch's setting alone).

    Raises:
        tacrefine.training.checkpoint.CheckpointError: unreadable or invalid checkpoint.
        ValueError: ``action_scale`` does not cover the checkpoint's DoF.
    """

    name = "tacrefinenet"

    def __init__(self, checkpoint_path: str | Path,
                 action_scale: Mapping[str, float] | Sequence[float] | None = None,
                 num_threads: int | None = None) -> None:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.checkpoint_path = Path(checkpoint_path)
        self.model, self.normalizer, self.checkpoint = load_model(self.checkpoint_path)
        self.refined_dofs: tuple[str, ...] = tuple(self.checkpoint["refined_dofs"])
        self.tactile_shape: tuple[int, ...] = tuple(int(s) for s in self.checkpoint["tactile_shape"])
        self.num_fingers = self.tactile_shape[0]
        self.action_scale: np.ndarray | None = None
        if action_scale is not None:
            self.action_scale = self._scale_from(action_scale)

    # -- configuration -------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return repr(str(self.checkpoint_path))

    def _scale_from(self, scale: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        if isinstance(scale, Mapping):
            missing = [d for d in self.refined_dofs if d not in scale]
            if missing:
                raise ValueError(f"action_scale lacks {missing}; the checkpoint {self._where} "
                                 f"refines {list(self.refined_dofs)}")
            values = np.array([float(scale[d]) for d in self.refined_dofs])
        else:
            values = np.asarray(scale, dtype=np.float64).reshape(-1)
            if values.shape != (len(self.refined_dofs),):
                raise ValueError(f"action_scale has {values.size} values; the checkpoint refines "
                                 f"{list(self.refined_dofs)} (one max step per DoF, mm / deg)")
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"action_scale must be finite and > 0 (mm / deg); got {values.tolist()}")
        return values.astype(np.float32)

    def bind_env(self, env: Any) -> LearnedPolicy:
        """Check that ``env`` matches the checkpoint and take its action scale; returns self.

        Reads ``env.unwrapped.refined_dofs``, ``env.unwrapped.action_scale`` (mm / deg per
        refined DoF) and ``env.observation_space["tactile"].shape``.
        """
        base = getattr(env, "unwrapped", env)
        env_dofs = tuple(getattr(base, "refined_dofs", ()))
        if env_dofs != self.refined_dofs:
            raise ValueError(f"checkpoint {self._where} predicts refined dofs {list(self.refined_dofs)}, "
                             f"but the env refines {list(env_dofs)}; train on data with the env's dofs")
        env_shape = tuple(int(s) for s in env.observation_space["tactile"].shape)
        if env_shape != self.tactile_shape:
            raise ValueError(f"checkpoint {self._where} was trained on tactile images of shape "
                             f"(fingers, channels, rows, cols) = {self.tactile_shape}, "
                             f"but the env produces {env_shape}")
        self.action_scale = self._scale_from(np.asarray(base.action_scale, dtype=np.float64))
        return self

    # -- acting --------------------------------------------------------------------------
    def reset(self) -> None:
        """No per-episode state (each decision reads only the current observation)."""

    def _check_obs(self, obs: Mapping[str, np.ndarray]) -> None:
        for key in ("tactile", "target_tactile"):
            shape = tuple(np.shape(obs[key]))
            if shape != self.tactile_shape:
                raise ValueError(f"obs[{key!r}] has shape {shape}; checkpoint {self._where} "
                                 f"expects (fingers, channels, rows, cols) = {self.tactile_shape}")
        shape = tuple(np.shape(obs["proprio"]))
        if shape != (2 * self.num_fingers,):
            raise ValueError(f"obs['proprio'] has shape {shape}; expected ({2 * self.num_fingers},) = "
                             "current then target finger joints")

    def predict_increment(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Wrist increment over ``refined_dofs`` in mm / deg (float32), from one observation."""
        self._check_obs(obs)
        proprio = np.asarray(obs["proprio"], dtype=np.float32)
        nf = self.num_fingers
        with torch.inference_mode():
            cur = tactile_to_tensor(np.asarray(obs["tactile"])[None])
            tgt = tactile_to_tensor(np.asarray(obs["target_tactile"])[None])
            joints = torch.from_numpy(self.normalizer.proprio(proprio[None, :nf], proprio[None, nf:]))
            pred = self.model(cur, tgt, joints).numpy()[0]
        return self.normalizer.denormalize_label(pred)

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Env action in [-1, 1] over ``refined_dofs``: increment / action scale, clipped."""
        if self.action_scale is None:
            raise RuntimeError("LearnedPolicy.act needs the env's action scale: call bind_env(env) or pass "
                               "action_scale={dof: max step in mm/deg} to the constructor")
        return np.clip(self.predict_increment(obs) / self.action_scale, -1.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        return f"LearnedPolicy({str(self.checkpoint_path)!r}, dofs={list(self.refined_dofs)})"
