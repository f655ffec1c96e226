"""The learned policy: a trained TacRefineNet checkpoint behind the ``act(obs)`` interface.

Design (one way in): the network predicts the wrist increment in physical units (mm for
translations, degrees for rotations) - :meth:`LearnedPolicy.predict_increment`. An env
action is that increment divided by the env's largest step per DoF, clipped to [-1, 1] -
:meth:`LearnedPolicy.act`. The policy therefore needs the env's ``action_scale``
(mm / deg per DoF). It gets it from :meth:`LearnedPolicy.bind_env`, which also refuses an
env that the checkpoint does not fit (fingers, pad size, channels, taxel pitch, DoF:
:mod:`tacrefine.policy.fit`), or - without an env - from the ``action_scale`` constructor
argument.

Ensembles: a checkpoint written by ``tacrefine ensemble`` holds several networks; the policy
acts on their mean and reads their spread as doubt (:meth:`LearnedPolicy._read`).

Per-class DoF: the network predicts the union of the DoF its training objects refine. When
the observation carries a ``dof_mask`` (1 where the episode's object class refines the
DoF, over the env's action DoF), the policy passes it to the network and leaves the other
components of the action at 0.

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

from tacrefine.config import ConfigError
from tacrefine.geometry import inverse_increment
from tacrefine.policy.assessment import AssessConfig, Assessment, make_assessment
from tacrefine.policy.baselines import Policy
from tacrefine.policy.fit import check_fit
from tacrefine.sim.hands.mirror import MirrorMap, gripper_mirror, require_normal_channel_only
from tacrefine.sim.sensor_profiles import check_sensor_match

# torch is imported where the network runs (``__init__``, ``_forward``), not here: an exported
# policy (:mod:`tacrefine.policy.onnx_policy`) reuses this class with onnxruntime, without torch.


class LearnedPolicy(Policy):
    """Acts from touch with a trained TacRefineNet.

    Args:
        checkpoint_path: a ``.pt`` file written by training (``best.pt`` / ``last.pt``).
        action_scale: largest env step per refined DoF in mm / deg, as a mapping
            ``{dof: value}`` (extra DoF ignored) or a sequence in the checkpoint's DoF order.
            Optional: :meth:`bind_env` sets it from the env; :meth:`act` needs one of the two.
        num_threads: torch intra-op threads to use (``None`` leaves torch's setting alone).
        sensor_mismatch: what :meth:`bind_env` does when the env's sensor differs from the one
            the checkpoint was trained with: ``"refuse"`` (raise, listing the differences) or
            ``"warn"``.
        two_way: read every pair both ways (:meth:`estimate`): a batch of two per decision,
            3-7 points more episodes within 1 mm / 1 deg on parts it was not trained on
            (``docs/self_assessment.md``). ``False`` gives the network's single reading.
        mirror: also read the pair mirrored in the wrist's y = 0 plane (images moved to the
            mirrored pads and flipped, joints permuted: :mod:`tacrefine.sim.hands.mirror`) and
            mirror that reading back: twice the network calls, and the policy answers a
            mirrored grasp with exactly the mirrored correction. Needs a hand the mirror maps
            onto itself (both built-in hands); ``ValueError`` otherwise. ``None`` (default):
            the checkpoint's ``reading.mirror``, which training sets when it mirrored its
            pairs (``augment.mirror_y``); off for a checkpoint without it.

    Raises:
        tacrefine.policy.checkpoint.CheckpointError: unreadable or invalid checkpoint.
        ValueError: ``action_scale`` does not cover the checkpoint's DoF.
    """

    name = "tacrefinenet"

    def __init__(self, checkpoint_path: str | Path,
                 action_scale: Mapping[str, float] | Sequence[float] | None = None,
                 num_threads: int | None = None, sensor_mismatch: str = "refuse", two_way: bool = True,
                 mirror: bool | None = None) -> None:
        import torch

        from tacrefine.policy.checkpoint import ensemble_members, load_model

        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.checkpoint_path = Path(checkpoint_path)
        self.model, self.normalizer, self.checkpoint = load_model(self.checkpoint_path)
        #: every network the checkpoint holds, the primary first (:func:`ensemble_members`)
        self.members = [(self.model, self.normalizer), *ensemble_members(self.checkpoint)]
        self._setup(action_scale, sensor_mismatch, uses_mask=bool(self.model.cfg.use_dof_mask), two_way=two_way,
                    mirror=mirror)

    def _setup(self, action_scale: Mapping[str, float] | Sequence[float] | None, sensor_mismatch: str,
               uses_mask: bool, two_way: bool = True, mirror: bool | None = None) -> None:
        """Everything but the network, from ``self.checkpoint`` (metadata; an exported policy
        reads it from its file) and whether the network reads the DoF mask."""
        for name, value in (("two_way", two_way), ("mirror", mirror)):
            if not isinstance(value, bool) and not (name == "mirror" and value is None):
                raise ValueError(f"{name}: got {value!r}; allowed: true or false")
        self.two_way = two_way
        self.refined_dofs: tuple[str, ...] = tuple(self.checkpoint["refined_dofs"])
        self.tactile_shape: tuple[int, ...] = tuple(int(s) for s in self.checkpoint["tactile_shape"])
        self.num_fingers = self.tactile_shape[0]
        #: how the hand's readings change under the mirror y -> -y, when the policy also reads
        #: the mirrored pair (``mirror``; ``None`` reads as the checkpoint says)
        self.mirror_map: MirrorMap | None = self._mirror_map(mirror)
        self.uses_mask = uses_mask
        #: thresholds of :meth:`assess`: the checkpoint's own (``self_assessment``) or the defaults
        self.assess_config = AssessConfig.from_checkpoint(self.checkpoint)
        #: DoF of the action, in the env's order (the checkpoint's until bound to an env).
        self.action_dofs: tuple[str, ...] = self.refined_dofs
        self._action_index = np.arange(len(self.refined_dofs))
        self.action_scale: np.ndarray | None = None
        self.sensor_mismatch = sensor_mismatch
        if action_scale is not None:
            self.action_scale = self._scale_from(action_scale)

    # -- configuration -------------------------------------------------------------------
    def _mirror_map(self, mirror: bool | None) -> MirrorMap | None:
        """The mirror plan the policy reads with: none unless ``mirror`` (``None``: the
        checkpoint's ``reading.mirror``); the one the checkpoint stores (``reading.map``, written
        by training), else measured on the hand it records."""
        reading = self.checkpoint.get("reading")
        well_formed = isinstance(reading, Mapping) and isinstance(reading.get("mirror", False), bool)
        if reading is not None and not well_formed:
            raise ValueError(f"checkpoint {self._where}: reading is {reading!r}; allowed: "
                             "{mirror: true or false[, map: ...]}")
        reading = reading or {}
        said = mirror is None
        if said:  # the checkpoint says how it is read best (training: trained on mirrored pairs)
            mirror = reading.get("mirror", False)
        if not mirror:
            return None
        field = "mirror (the checkpoint's reading.mirror)" if said else "mirror"
        try:
            require_normal_channel_only(self.tactile_shape[1], field, "mirror=False")
            if "map" in reading:
                plan = MirrorMap.from_dict(reading["map"], self.num_fingers, f"checkpoint {self._where}: reading.map")
                if plan.axis != "y":
                    raise ConfigError(f"{field}: reading.map mirrors in {plan.axis}; allowed: a map in y")
                return plan
            return gripper_mirror(self.checkpoint.get("gripper"), self.tactile_shape[1], field,
                                  allowed="mirror=False")
        except ConfigError as err:
            raise ValueError(str(err)) from err

    @property
    def _where(self) -> str:
        return repr(str(self.checkpoint_path))

    def _scale_from(self, scale: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        dofs = self.action_dofs
        if isinstance(scale, Mapping):
            missing = [d for d in dofs if d not in scale]
            if missing:
                raise ValueError(f"action_scale lacks {missing}; the checkpoint {self._where} "
                                 f"acts on {list(dofs)}")
            values = np.array([float(scale[d]) for d in dofs])
        else:
            values = np.asarray(scale, dtype=np.float64).reshape(-1)
            if values.shape != (len(dofs),):
                raise ValueError(f"action_scale has {values.size} values; the checkpoint acts on "
                                 f"{list(dofs)} (one max step per DoF, mm / deg)")
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"action_scale must be finite and > 0 (mm / deg); got {values.tolist()}")
        return values.astype(np.float32)

    def bind_env(self, env: Any) -> LearnedPolicy:
        """Check that the checkpoint fits ``env`` and take its action DoF and scale; returns self.

        Reads ``env.unwrapped.refined_dofs`` (the action's DoF, which the checkpoint must
        cover), ``env.unwrapped.action_scale`` (mm / deg per action DoF) and
        ``env.observation_space["tactile"].shape``; every mismatch is named in one
        ``ValueError`` (:func:`tacrefine.policy.fit.check_fit`).
        """
        base = getattr(env, "unwrapped", env)
        check_fit(self.checkpoint, env, self._where)
        if getattr(base, "sensor_config", None) is not None:  # the sensor travels with the policy
            check_sensor_match(self.checkpoint.get("sensor"), base.sensor_config, self.sensor_mismatch,
                               f"checkpoint {self._where}")
        self.action_dofs = tuple(base.refined_dofs)
        self._action_index = np.array([self.refined_dofs.index(d) for d in self.action_dofs], dtype=np.int64)
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

    def dof_mask(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """``float32`` mask over the checkpoint's DoF: the observation's ``dof_mask`` (over the
        action DoF) where given, else 1 on every action DoF; 0 on DoF the env does not act on."""
        mask = np.zeros(len(self.refined_dofs), dtype=np.float32)
        given = obs.get("dof_mask") if isinstance(obs, Mapping) else None
        if given is None:
            mask[self._action_index] = 1.0
            return mask
        given = np.asarray(given, dtype=np.float32).reshape(-1)
        if given.shape != (len(self.action_dofs),):
            raise ValueError(f"obs['dof_mask'] has shape {given.shape}; expected ({len(self.action_dofs)},) "
                             f"over the action DoF {list(self.action_dofs)}")
        mask[self._action_index] = given > 0.5
        return mask

    @property
    def has_error_head(self) -> bool:
        """True when the checkpoint predicts the size of its own error (else :meth:`assess`
        falls back to the predicted correction alone)."""
        return getattr(self.model, "error_head", None) is not None

    def estimate(self, obs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Increment over ``refined_dofs`` in mm / deg (0 where the mask is off) and the
        standard deviation the error head expects of it, mm / deg (``None`` without a head).

        Two-way reading (``two_way``, the default): the network also reads the pair the other
        way round (the target as the current grasp, joints swapped alike), which predicts the
        motion back; its exact inverse (:func:`tacrefine.geometry.inverse_increment`) is a
        second estimate of the same increment. Training pairs run both ways, so on a familiar
        part the two nearly agree and the mean changes little; on an unfamiliar one their errors
        are partly independent and the mean is closer (measured in
        ``docs/self_assessment.md``). Mirrored reading (``mirror``): each of those pairs is also
        read mirrored, and the answer mirrored back. The increment is the mean of all readings,
        the error head's sigma the mean of theirs.
        """
        self._check_obs(obs)
        mask = self.dof_mask(obs)
        current, target = np.asarray(obs["tactile"]), np.asarray(obs["target_tactile"])
        joints = np.asarray(obs["proprio"], dtype=np.float32)
        nf = self.num_fingers
        # (current images, target images, joints, read backward, read mirrored)
        readings = [(current, target, joints, False, False)]
        if self.two_way:
            readings.append((target, current, np.concatenate([joints[nf:], joints[:nf]]), True, False))
        plan = self.mirror_map
        if plan is not None:
            readings += [(plan.mirror_images(c), plan.mirror_images(t), plan.mirror_proprio(j), back, True)
                         for c, t, j, back, _ in readings]
        values, sigmas = self._read(*(np.stack([r[k] for r in readings]) for k in range(3)), mask)
        estimates = []
        for value, (_, _, _, back, mirrored) in zip(values, readings):
            if mirrored:
                value = plan.mirror_increment(value, self.refined_dofs)
            estimates.append(inverse_increment(value, self.refined_dofs) * mask if back else value)
        increment = np.mean(estimates, axis=0)
        sigma = None if sigmas is None else sigmas.mean(axis=0)
        return increment.astype(np.float32), None if sigma is None else sigma.astype(np.float32)

    def _read(self, current: np.ndarray, target: np.ndarray, joints: np.ndarray,
              mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Network readings of a batch of pairs under one DoF mask: increments and sigmas
        ``(B, n_dofs)``, mm / deg, masked (sigmas ``None`` for one network without a head).

        An ensemble checkpoint's members each read the batch; the increment is their mean and
        the sigma that of their mixture: the heads' mean variance plus the members' spread
        (a part the members disagree on is one the policy does not know)."""
        masks = np.repeat(mask.reshape(1, -1), len(current), axis=0)  # a writable copy for torch
        increments, variances = [], []
        for outputs, (_, normalizer) in zip(self._forward(current, target, joints, masks), self.members):
            increments.append(np.asarray(normalizer.denormalize_label(outputs["out"]), np.float64))
            log_var = outputs.get("log_var")
            variances.append(None if log_var is None
                             else np.exp(np.asarray(log_var, np.float64)) * normalizer.label_std ** 2)
        stacked = np.stack(increments)
        increment = stacked.mean(axis=0) * mask
        heads = [v for v in variances if v is not None]
        if len(stacked) == 1 and not heads:
            return increment, None
        variance = stacked.var(axis=0) + (np.mean(heads, axis=0) if heads else 0.0)
        return increment, np.sqrt(variance) * mask

    def predict_increment(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Wrist increment over ``refined_dofs`` in mm / deg (float32), from one observation;
        DoF the observation's mask switches off are 0."""
        return self.estimate(obs)[0]

    def assess(self, obs: Mapping[str, np.ndarray]) -> Assessment:
        """How far this grasp is from the target by the policy's own estimate, how sure it is,
        and whether the part looks outside what it knows (:mod:`tacrefine.policy.assessment`);
        over the action DoF."""
        increment, sigma = self.estimate(obs)
        idx = self._action_index
        return make_assessment(increment[idx], None if sigma is None else sigma[idx], self.action_dofs,
                               self.assess_config)

    def _forward(self, tactile: np.ndarray, target_tactile: np.ndarray, proprio: np.ndarray,
                 dof_mask: np.ndarray) -> list[dict[str, np.ndarray]]:
        """The network call: a batch of raw observation arrays in (uint8 images
        ``(B, F, C, H, W)``, joints ``(B, 2F)`` in metres, mask ``(B, n_dofs)``); out, for every
        network of :attr:`members`, its outputs by name (:func:`tacrefine.policy.export.model_outputs`:
        ``out`` the normalised increment, ``log_var`` the error head's, if any). An exported
        policy overrides only this method."""
        import torch

        from tacrefine.policy.export import model_outputs, preprocess

        results = []
        with torch.inference_mode():
            for model, normalizer in self.members:
                cur, tgt, joints, mask = preprocess(normalizer.joint_mean, normalizer.joint_std,
                                                    torch.from_numpy(np.asarray(tactile)),
                                                    torch.from_numpy(np.asarray(target_tactile)),
                                                    torch.from_numpy(np.asarray(proprio, dtype=np.float32)),
                                                    torch.from_numpy(np.asarray(dof_mask, dtype=np.float32)))
                out = model_outputs(model, cur, tgt, joints, mask if self.uses_mask else None)
                results.append({name: t.numpy() for name, t in out.items()})
        return results

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Env action in [-1, 1] over the action DoF: increment / action scale, clipped."""
        if self.action_scale is None:
            raise RuntimeError("LearnedPolicy.act needs the env's action scale: call bind_env(env) or pass "
                               "action_scale={dof: max step in mm/deg} to the constructor")
        increment = self.predict_increment(obs)[self._action_index]
        return np.clip(increment / self.action_scale, -1.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        return f"LearnedPolicy({str(self.checkpoint_path)!r}, dofs={list(self.refined_dofs)})"
