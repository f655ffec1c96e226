"""One entry point for every policy: ``load_policy(spec, env)``.

``spec`` is ``"baseline:noop" | "baseline:random" | "baseline:servo" | "baseline:oracle"``,
``"pretrained"`` (a checkpoint shipped with the package: the one that fits the env - the
parallel jaw's or the three-finger hand's), a checkpoint path, or an exported ``.onnx`` file
(``tacrefine export``; run by onnxruntime, without torch); ``"selfcheck:SPEC"`` wraps
any of them that can assess itself in the self-checking controller
(:class:`tacrefine.policy.assessment.SelfCheckingPolicy`: stops on its own estimate, undoes
steps that made the grasp worse, flags unfamiliar parts).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from tacrefine.policy.baselines import BASELINES, Policy

PRETRAINED_NAME = "pretrained"
SELFCHECK_PREFIX = "selfcheck:"
#: Shipped checkpoints by hand, in the order ``"pretrained"`` tries them (paths inside
#: ``tacrefine/policy/pretrained``; each has its provenance README, config and metrics beside it).
PRETRAINED_FILES: dict[str, str] = {"parallel_jaw": "tacrefinenet.pt", "three_finger": "hand/tacrefinenet.pt"}


def _pretrained_dir() -> Path:
    return Path(str(resources.files("tacrefine.policy") / "pretrained"))


def pretrained_checkpoint(env: Any = None) -> Path:
    """Path of the shipped checkpoint for ``env`` (without an env: the parallel jaw's).

    Raises ``ValueError`` naming what differs when no shipped checkpoint fits ``env``.
    """
    if env is None:
        return _pretrained_dir() / PRETRAINED_FILES["parallel_jaw"]
    return select_pretrained(env)


def pretrained_checkpoints() -> dict[str, Path]:
    """The shipped checkpoints that are present, by hand."""
    root = _pretrained_dir()
    return {hand: root / rel for hand, rel in PRETRAINED_FILES.items() if (root / rel).is_file()}


def select_pretrained(env: Any) -> Path:
    """The first shipped checkpoint that fits ``env`` (:mod:`tacrefine.policy.fit`)."""
    from tacrefine.policy.checkpoint import load_checkpoint
    from tacrefine.policy.fit import describe, fit_problems

    shipped = pretrained_checkpoints()
    if not shipped:
        raise FileNotFoundError(f"no pretrained checkpoint is shipped in {_pretrained_dir()}")
    refusals = []
    for hand, path in shipped.items():
        ckpt = load_checkpoint(path)
        problems = fit_problems(ckpt, env)
        if not problems:
            return path
        refusals.append(f"{hand} ({path.name}: {describe(ckpt)}): " + "; ".join(problems))
    raise ValueError("no shipped pretrained checkpoint fits this env:\n  " + "\n  ".join(refusals)
                     + "\ntrain one for it (scripts/main.py, or scripts/generate_data.py + scripts/train.py)")


def load_policy(spec: str, env: Any = None, seed: int | None = 0, sensor_mismatch: str = "refuse",
                max_steps: int | None = 5) -> Policy:
    """Build the policy named by ``spec`` for ``env`` (needed by every policy: it fixes the
    action scale and refined DoF; the oracle also reads its ground truth).

    ``max_steps`` is the step budget of a ``selfcheck:`` controller (its last step is taken
    only when it can be trusted; ``None``: no budget).

    A learned policy is refused in an env whose sensor differs from the one it was trained
    with (the error lists the differing fields), or only warned about with
    ``sensor_mismatch="warn"``."""
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"policy spec must be a string; got {spec!r}")
    spec = str(spec)
    if env is None:
        raise ValueError(f"load_policy({spec!r}) needs env=... (the environment the policy will act in)")
    if spec.startswith(SELFCHECK_PREFIX):
        from tacrefine.policy.assessment import SelfCheckingPolicy

        inner = load_policy(spec[len(SELFCHECK_PREFIX):], env, seed, sensor_mismatch)
        if not callable(getattr(inner, "assess", None)):
            raise ValueError(f"policy {spec!r}: {inner.name} cannot assess itself (no assess(obs)); "
                             f"{SELFCHECK_PREFIX!r} wraps 'pretrained', a checkpoint path or an opted-in baseline")
        return SelfCheckingPolicy(inner, env=env, max_steps=max_steps)  # type: ignore[return-value]
    if spec.startswith("baseline:"):
        name = spec.split(":", 1)[1]
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; known: {['baseline:' + n for n in BASELINES]}")
        cls = BASELINES[name]
        return cls(env, seed=seed) if name == "random" else cls(env)
    path = select_pretrained(env) if spec == PRETRAINED_NAME else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"policy {spec!r}: no checkpoint at {path}; expected a checkpoint path, {PRETRAINED_NAME!r} "
            f"or one of {['baseline:' + n for n in BASELINES]}"
        )
    if path.suffix.lower() == ".onnx":  # an exported graph (tacrefine export), run by onnxruntime
        from tacrefine.policy.onnx_policy import OnnxPolicy

        return OnnxPolicy(path, sensor_mismatch=sensor_mismatch).bind_env(env)
    from tacrefine.policy.learned import LearnedPolicy

    return LearnedPolicy(path, sensor_mismatch=sensor_mismatch).bind_env(env)
