"""Exported policies: the ONNX graph acts like the native policy, without torch, in closed loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import tacrefine
from tacrefine.cli.export import main as export_main
from tacrefine.evaluation.episodes.protocol import EvalConfig
from tacrefine.evaluation.episodes.rollouts import evaluate_policies
from tacrefine.policy.checkpoint import load_model
from tacrefine.policy.export import PolicyGraph, _example_inputs
from tacrefine.policy.onnx_policy import ExportError, OnnxPolicy
from tacrefine.policy.registry import pretrained_checkpoint

pytestmark = pytest.mark.slow  # one ONNX export (~10-30 s of CPU) shared by the module

OBJECTS = ("rod_r4", "plate_w6")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Decisions are batches of one (as the evaluation runs them): one thread, also on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    ckpt = pretrained_checkpoint()  # the shipped parallel-jaw policy
    out = tmp_path_factory.mktemp("export") / "policy.onnx"
    assert export_main(["--policy", str(ckpt), "--format", "onnx", "--out", str(out)]) == 0
    return ckpt, out


@pytest.fixture(scope="module")
def recorded(exported) -> list[dict[str, np.ndarray]]:
    """Observations recorded in closed loop (the native policy acting, both target modes, sensor
    noise), then current and target images of the same part cross-combined: a few hundred."""
    ckpt, _ = exported
    cfg = EvalConfig(objects=OBJECTS, episodes_per_object=4, max_steps=4, noise=True, plots=False,
                     progress=False, render=False)
    run = evaluate_policies(cfg, [str(ckpt)], record=True)
    observations = []
    for a in run.traces:
        for b in run.traces:
            if a.object != b.object:
                continue
            for tactile, proprio, mask in zip(a.tactile, a.proprio, a.dof_mask):
                target_joints = b.proprio[0][len(proprio) // 2:]
                observations.append({"tactile": tactile, "target_tactile": b.target_tactile,
                                     "proprio": np.concatenate([proprio[: len(proprio) // 2], target_joints]),
                                     "dof_mask": mask})
    return observations


def test_onnx_actions_match_native_on_recorded_observations(exported, recorded) -> None:
    ckpt, onnx_file = exported
    env = gym.make("tacrefine/GripRefine-v0")
    native = tacrefine.load_policy(str(ckpt), env=env)
    onnx_policy = tacrefine.load_policy(str(onnx_file), env=env)
    assert isinstance(onnx_policy, OnnxPolicy) and type(native).__name__ == "LearnedPolicy"
    assert len(recorded) >= 200
    a = np.stack([native.act(o) for o in recorded])
    b = np.stack([onnx_policy.act(o) for o in recorded])
    assert np.abs(a).max() > 0.05, "the policy acts (a trivial all-zero action would match anything)"
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    inc_a = np.stack([native.predict_increment(o) for o in recorded[:50]])
    inc_b = np.stack([onnx_policy.predict_increment(o) for o in recorded[:50]])
    np.testing.assert_allclose(inc_b, inc_a, rtol=0, atol=1e-4)  # mm / deg
    env.close()


def test_graph_output_is_the_physical_increment(exported, recorded) -> None:
    """The graph's own `increment` output (what a robot applies without Python) is the policy's
    single reading; the default two-way policy is the mean of the graph's reading and the exact
    inverse of its reading with current and target swapped."""
    import onnxruntime as ort

    from tacrefine.geometry import inverse_increment
    from tacrefine.policy.learned import LearnedPolicy

    ckpt, onnx_file = exported
    env = gym.make("tacrefine/GripRefine-v0")
    one_way = LearnedPolicy(ckpt, two_way=False, mirror=False).bind_env(env)
    two_way = LearnedPolicy(ckpt, mirror=False).bind_env(env)  # the two-way reading alone
    assert two_way.two_way and not one_way.two_way and two_way.mirror_map is None
    assert tacrefine.load_policy(str(ckpt), env=env).mirror_map is not None  # the shipped jaw reads mirrored
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def graph(current: np.ndarray, target: np.ndarray, proprio: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (increment,) = session.run(["increment"], {"tactile": current[None], "target_tactile": target[None],
                                                   "proprio": proprio[None].astype(np.float32),
                                                   "dof_mask": mask[None]})
        return increment[0]

    differ = 0.0
    for obs in recorded[:20]:
        mask = one_way.dof_mask(obs)
        forward = graph(obs["tactile"], obs["target_tactile"], obs["proprio"], mask)
        np.testing.assert_allclose(forward, one_way.predict_increment(obs), rtol=0, atol=1e-4)
        nf = len(obs["proprio"]) // 2
        back = graph(obs["target_tactile"], obs["tactile"], np.roll(obs["proprio"], nf), mask)
        expected = 0.5 * (forward + inverse_increment(back, one_way.refined_dofs) * mask)
        np.testing.assert_allclose(two_way.predict_increment(obs), expected, rtol=0, atol=1e-4)
        differ = max(differ, float(np.abs(expected - forward).max()))
    assert differ > 1e-3, "the reverse reading changes the increment (else the test checks nothing)"
    env.close()


def test_onnx_evaluation_gives_the_native_success_figures(exported) -> None:
    ckpt, onnx_file = exported
    cfg = EvalConfig(objects=OBJECTS, episodes_per_object=2, max_steps=4, target_modes=("random",),
                     plots=False, progress=False, render=False)
    run = evaluate_policies(cfg, [str(ckpt), str(onnx_file)])
    by = {s: [e for e in run.episodes if e["policy"] == s] for s in (str(ckpt), str(onnx_file))}
    native, onnx_eps = by[str(ckpt)], by[str(onnx_file)]
    assert len(native) == len(onnx_eps) == 4
    for a, b in zip(native, onnx_eps):
        assert (a["object"], a["seed"]) == (b["object"], b["seed"])
        assert a["success"] == b["success"] and a["steps"] == b["steps"]
        assert b["final_position_error_mm"] == pytest.approx(a["final_position_error_mm"], abs=0.01)


def test_onnx_policy_runs_without_torch(exported) -> None:
    _, onnx_file = exported
    code = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
import gymnasium as gym, numpy as np, tacrefine
env = gym.make("tacrefine/GripRefine-v0")
policy = tacrefine.load_policy({str(onnx_file)!r}, env=env)
obs, _ = env.reset(seed=3)
action = policy.act(obs)
assert action.shape == env.action_space.shape and np.all(np.abs(action) <= 1)
assert "torch" not in sys.modules
print("acted", type(policy).__name__)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "acted OnnxPolicy" in run.stdout


def test_corrupt_or_foreign_onnx_files_are_refused(exported, tmp_path) -> None:
    _, onnx_file = exported
    env = gym.make("tacrefine/GripRefine-v0")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_file.read_bytes()[: 5000])
    with pytest.raises(ExportError, match="cut.onnx.*cannot be read"):
        tacrefine.load_policy(str(cut), env=env)
    import onnx

    foreign = onnx.load(str(onnx_file))
    del foreign.metadata_props[:]
    path = tmp_path / "foreign.onnx"
    onnx.save(foreign, str(path))
    with pytest.raises(ExportError, match="foreign.onnx.*no 'tacrefine' metadata"):
        tacrefine.load_policy(str(path), env=env)
    hand = gym.make("tacrefine/GripRefineHand-v0")
    with pytest.raises(ValueError, match="does not fit this env: fingers: checkpoint 2, env 3"):
        tacrefine.load_policy(str(onnx_file), env=hand)
    env.close()
    hand.close()


def test_torchscript_export_matches_the_graph(exported, tmp_path) -> None:
    ckpt, _ = exported
    out = tmp_path / "policy.ts"
    assert export_main(["--policy", str(ckpt), "--format", "torchscript", "--out", str(out)]) == 0
    extra = {"tacrefine.json": ""}
    scripted = torch.jit.load(str(out), _extra_files=extra)
    assert b'"refined_dofs"' in extra["tacrefine.json"]
    model, normalizer, meta = load_model(ckpt)
    graph = PolicyGraph(model, normalizer, model.cfg.use_dof_mask)
    inputs = _example_inputs(meta)
    with torch.inference_mode():
        for a, b in zip(graph(*inputs), scripted(*inputs)):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
