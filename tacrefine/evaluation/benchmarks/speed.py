"""Speed benchmark: tactile frames, re-grasps, env steps, data generation, training, latency.

Why these numbers: the design compares the sensor with published tactile simulators
(Taxim ~35 frames/s, FOTS 28.6 / 326 frames/s, TACTO "hundreds" on a GPU), and the
paper's 10 Hz control loop (90 ms preprocessing + 10 ms inference on a Jetson Orin).

Everything runs on one core (``torch.set_num_threads(1)``; PyBullet is single-threaded)
except ``samples_per_s_2_workers``, which uses two worker processes on purpose. Each
timing repeats its operation for at least ``min_seconds`` and reports the rate over the
whole span. Numbers depend on the machine and on what else runs on it: the load average
is recorded with them. They never appear in tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes
from tacrefine.evaluation.results.provenance import machine_info

SPEED_OBJECT = "box_8x8"
#: the three-finger hand is timed on one object of each of the paper's classes, in turn
HAND_SPEED_OBJECTS = ("rod_d8_l100", "plate_t3_w50", "disc_d40_t4")


@dataclass(frozen=True)
class SpeedConfig:
    """Sizes of the speed measurements.

    Attributes:
        min_seconds: each timing runs at least this long.
        env_episodes: 5-step episodes timed for the env figures (at least).
        generation_samples_per_object: data-generation job size per object (4 objects, shards of 50).
        progress: print a line per measurement.
        main_job_args: arguments of the main job timed end to end in a fresh process
            (:func:`main_job_run`; ``()`` = its defaults, minutes); ``None`` skips it.
    """

    min_seconds: float = 2.0
    env_episodes: int = 20
    generation_samples_per_object: int = 1000
    progress: bool = True
    main_job_args: tuple[str, ...] | None = ()


def _rate(fn: Callable[[], Any], min_seconds: float, min_reps: int = 3) -> tuple[float, int, float]:
    """Calls per second of ``fn`` over at least ``min_seconds`` and ``min_reps`` calls."""
    fn()  # warm-up (caches, lazy imports)
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds and reps >= min_reps:
            return reps / elapsed, reps, elapsed


def tactile_frames_per_s(rows: int, cols: int, pitch_mm: float, min_seconds: float,
                         profile: str | None = None) -> dict[str, Any]:
    """``TactileSensor.read`` on a settled grasp; frames counted per pad. ``profile``: a named
    sensor profile instead of the ideal grid (its whole read-out chain is timed)."""
    from tacrefine.sim.cell import CellConfig, GraspCell
    from tacrefine.sim.sensor_profiles import resolve_sensor
    from tacrefine.sim.tactile import SensorConfig

    sensor = resolve_sensor(profile) if profile else SensorConfig(rows=rows, cols=cols, pitch_mm=pitch_mm)
    cell = GraspCell(CellConfig(sensor=sensor))
    rng = np.random.default_rng(0)
    try:
        cell.load_object(SPEED_OBJECT)
        cell.place_object(None)
        grasp = cell.grasp_offset(np.zeros(6), rng=rng)
        if not grasp.ok:
            raise RuntimeError(f"speed benchmark: the nominal grasp of {SPEED_OBJECT} failed "
                               f"({grasp.failure})")
        obj = cell.object
        pads = len(cell.sensor.pads)
        reads, _, _ = _rate(lambda: cell.sensor.read(obj, rng=rng), min_seconds)
        return {"frames_per_s": reads * pads, "reads_per_s": reads, "pads": pads, "rows": rows, "cols": cols,
                "pitch_mm": pitch_mm, "taxels_lit": int((grasp.tactile[:, 0] > 0).sum())}
    finally:
        cell.close()


def regrasps_per_s(min_seconds: float, hand: str = "parallel_jaw",
                   objects: tuple[str, ...] = (SPEED_OBJECT,)) -> float:
    """Full open-move-close-settle-read cycles of ``hand`` with small random offsets (1 mm,
    2 deg), each object timed for ``min_seconds`` in turn (the rate over all of them)."""
    from tacrefine.sim.cell import CellConfig, GraspCell
    from tacrefine.sim.hands import HANDS, hand_config
    from tacrefine.sim.sensor_profiles import resolve_sensor

    sensor = resolve_sensor(HANDS.get(hand).default_sensor)
    cell = GraspCell(CellConfig(gripper=hand_config(hand), sensor=sensor))
    rng = np.random.default_rng(0)
    reps, seconds = 0, 0.0
    try:
        for name in objects:
            cell.load_object(name)
            cell.place_object(None)

            def regrasp() -> None:
                offset = np.concatenate([rng.uniform(-1, 1, 3) * 1e-3, np.radians(rng.uniform(-2, 2, 3))])
                cell.grasp_offset(offset, rng=rng)

            _, n, elapsed = _rate(regrasp, min_seconds)
            reps, seconds = reps + n, seconds + elapsed
        return reps / seconds
    finally:
        cell.close()


def env_rates(episodes: int, min_seconds: float, env_id: str = "tacrefine/GripRefine-v0") -> dict[str, float]:
    """``env_id`` with a no-op policy: env steps/s (step only) and 5-step episodes/s (with reset)."""
    import gymnasium as gym

    import tacrefine  # noqa: F401

    env = gym.make(env_id, max_episode_steps=5)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    try:
        env.reset(seed=0)  # warm-up: object shapes are built once per env
        env.step(action)
        step_s, steps, n, t0 = 0.0, 0, 0, time.perf_counter()
        while n < episodes or time.perf_counter() - t0 < min_seconds:
            env.reset(seed=n)
            for _ in range(5):
                ts = time.perf_counter()
                _, _, terminated, truncated, _ = env.step(action)
                step_s += time.perf_counter() - ts
                steps += 1
                if terminated or truncated:
                    break
            n += 1
        total = time.perf_counter() - t0
    finally:
        env.close()
    return {"env_steps_per_s": steps / step_s, "episodes_per_s": n / total, "episodes": n,
            "steps_per_episode": steps / n}


#: the data-generation job of the speed benchmark: big enough to measure throughput (the
#: spawned worker's start-up, about half a second, is a small part of it and reported apart)
GENERATION_OBJECTS = ("rod_r4", SPEED_OBJECT, "plate_w6", "wedge")


def generation_rate(workers: int, samples_per_object: int, shard_size: int = 50) -> dict[str, Any] | None:
    """Data generation throughput with ``workers`` lanes on the same job (None without the data package)."""
    try:
        from tacrefine.evaluation.benchmarks.scale import generation_run
    except ImportError:
        return None
    run = generation_run(list(GENERATION_OBJECTS), samples_per_object, min(shard_size, samples_per_object),
                         "local", workers)
    return {"samples_per_s": run["grasps_per_s"], "samples": run["grasps"], "seconds": run["seconds"],
            "workers": workers, "shards": len(run["shard_sha256"]), "efficiency": run["efficiency"],
            "shard_sha256": run["shard_sha256"], "note": "wall time including the spawned worker's start-up"}


def training_and_latency(num_threads: int = 1) -> dict[str, Any]:
    """Training throughput (pairs/s) and one decision's network latency, default model and sensor."""
    import torch

    from tacrefine.policy.model import ModelConfig, TacRefineNet

    out: dict[str, Any] = {}
    shape = (2, 1, 14, 12)
    model_cfg = ModelConfig().resolved(("y", "z", "roll"), shape[0], shape[1])
    try:
        from tacrefine.training.loop import measure_training_throughput

        out["training_samples_per_s"] = measure_training_throughput(model_cfg, shape, batch_size=256, steps=8,
                                                                    warmup=2, num_threads=num_threads)
        out["training_source"] = "tacrefine.training.loop.measure_training_throughput (batch 256)"
    except ImportError:
        out["training_samples_per_s"] = None
    torch.manual_seed(0)
    model = TacRefineNet(model_cfg)
    try:
        from tacrefine.policy.model import measure_inference_latency

        lat = measure_inference_latency(model, shape[2], shape[3], repeats=200, warmup=20,
                                        num_threads=num_threads)
        out["decision_latency_ms"] = lat["median_ms"]
        out["decision_latency_p90_ms"] = lat["p90_ms"]
        out["latency_source"] = "tacrefine.policy.model.measure_inference_latency (batch 1, network only)"
    except ImportError:
        old = torch.get_num_threads()
        torch.set_num_threads(num_threads)
        cur = torch.rand(1, *shape)
        proprio = torch.randn(1, 2 * shape[0])
        times = []
        with torch.inference_mode():
            for i in range(220):
                t0 = time.perf_counter()
                model(cur, cur, proprio)
                if i >= 20:
                    times.append(time.perf_counter() - t0)
        torch.set_num_threads(old)
        out["decision_latency_ms"] = float(np.median(times) * 1e3)
        out["decision_latency_p90_ms"] = float(np.percentile(times, 90) * 1e3)
        out["latency_source"] = "forward pass of TacRefineNet (batch 1)"
    out["parameters"] = int(sum(p.numel() for p in model.parameters()))
    out["torch_threads"] = num_threads
    return out


def main_job_run(args: tuple[str, ...] = (), out: str | Path | None = None) -> dict[str, Any]:
    """``scripts/main.py`` end to end in a fresh process (nothing cached in this one), its own
    stage times and the training's wall seconds to a 0.5 mm validation median (and to 0.5 mm / 0.5 deg).

    ``out``: the job's directory (default: a temporary one, removed afterwards). The
    subprocess's wall time includes interpreter start-up and imports; ``job_s`` is the
    job's own ``summary.json`` figure.
    """
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tacrefine-main-") as tmp:
        job_dir = Path(out) if out is not None else Path(tmp) / "main"
        code = "import sys; from tacrefine.cli.main_job import main; sys.exit(main())"
        cmd = [sys.executable, "-c", code, *args, "--out", str(job_dir), "--no-progress"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"main job failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        summary = json.loads((job_dir / "summary.json").read_text(encoding="utf-8"))
    training = summary["stages"]["training"]["result"]
    return {"wall_s": wall, "job_s": summary["seconds"], "args": list(args),
            "stage_s": {k: v["seconds"] for k, v in summary["stages"].items()},
            "training_to_0_5mm_s": training.get("seconds_to_0.5mm"),
            "training_to_0_5mm_0_5deg_s": training.get("seconds_to_0.5mm_0.5deg"),
            "curve": training.get("curve")}


def run_speed(cfg: SpeedConfig | None = None) -> dict[str, Any]:
    """Every speed figure (see module docstring) plus machine info."""
    import torch

    cfg = cfg or SpeedConfig()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    say = print if cfg.progress else (lambda *a, **k: None)
    result: dict[str, Any] = {"schema": "tacrefine.benchmark.speed", "schema_version": 1}
    details: dict[str, Any] = {}
    try:
        for key, (rows, cols, pitch) in (("tactile_pad_frames_per_s", (14, 12, 1.1)),
                                         ("tactile_pad_frames_per_s_32x32", (32, 32, 0.5)),
                                         ("tactile_pad_frames_per_s_64x64", (64, 64, 0.25))):
            say(f"speed: tactile read {rows}x{cols} ...", flush=True)
            details[key] = tactile_frames_per_s(rows, cols, pitch, cfg.min_seconds)
            result[key] = details[key]["frames_per_s"]
        for profile in ("piezo_11x9", "real_like"):  # same grid: the cost of a real sensor's read-out
            say(f"speed: tactile read, profile {profile} ...", flush=True)
            key = f"tactile_pad_frames_per_s_{profile}"
            details[key] = tactile_frames_per_s(11, 9, 1.1, cfg.min_seconds, profile=profile)
            result[key] = details[key]["frames_per_s"]
        say("speed: re-grasps (parallel jaw, three-finger hand) ...", flush=True)
        result["regrasps_per_s"] = regrasps_per_s(cfg.min_seconds)
        result["regrasps_per_s_hand"] = regrasps_per_s(cfg.min_seconds / len(HAND_SPEED_OBJECTS) * 2,
                                                       "three_finger", HAND_SPEED_OBJECTS)
        result["hand_to_jaw_regrasp_ratio"] = result["regrasps_per_s_hand"] / result["regrasps_per_s"]
        details["regrasps"] = {"jaw_object": SPEED_OBJECT, "hand_objects": list(HAND_SPEED_OBJECTS),
                               "target_ratio": 0.6}
        say("speed: env episodes ...", flush=True)
        details["env"] = env_rates(cfg.env_episodes, cfg.min_seconds)
        result["env_steps_per_s"] = details["env"]["env_steps_per_s"]
        result["episodes_per_s"] = details["env"]["episodes_per_s"]
        details["env_hand"] = env_rates(cfg.env_episodes, cfg.min_seconds, "tacrefine/GripRefineHand-v0")
        result["env_steps_per_s_hand"] = details["env_hand"]["env_steps_per_s"]
        result["episodes_per_s_hand"] = details["env_hand"]["episodes_per_s"]
        for workers in (1, 2):
            say(f"speed: data generation, {workers} worker(s) ...", flush=True)
            gen = generation_rate(workers, cfg.generation_samples_per_object)
            details[f"generation_{workers}_worker"] = gen
            result[f"samples_per_s_{workers}_worker{'s' if workers > 1 else ''}"] = (
                gen["samples_per_s"] if gen else None)
        one, two = details["generation_1_worker"], details["generation_2_worker"]
        if one and two:
            result["generation_speedup_2_workers"] = two["samples_per_s"] / one["samples_per_s"]
            details["generation_identical_shards"] = one.pop("shard_sha256") == two.pop("shard_sha256")
            from tacrefine.evaluation.benchmarks.scale import worker_startup_s

            result["worker_startup_s"] = worker_startup_s()
        say("speed: training throughput and decision latency ...", flush=True)
        details["model"] = training_and_latency(num_threads=1)
        result["training_samples_per_s"] = details["model"]["training_samples_per_s"]
        result["decision_latency_ms"] = details["model"]["decision_latency_ms"]
        say("speed: policy latency, native and ONNX ...", flush=True)
        from tacrefine.evaluation.benchmarks.exported import exported_latency

        details["exported"] = exported_latency()
        result.update({k: details["exported"][k] for k in ("policy_act_ms_native", "policy_act_ms_onnx")})
        if cfg.main_job_args is not None:
            say(f"speed: the main job end to end, fresh process {list(cfg.main_job_args)} ...", flush=True)
            details["main_job"] = main_job_run(cfg.main_job_args)
            result["main_job_s"] = details["main_job"]["wall_s"]
            result["time_to_0_5mm_s"] = details["main_job"]["training_to_0_5mm_s"]
    finally:
        torch.set_num_threads(old_threads)
    result["details"] = details
    result["machine"] = machine_info()
    result["config"] = {"min_seconds": cfg.min_seconds, "env_episodes": cfg.env_episodes,
                        "generation_samples_per_object": cfg.generation_samples_per_object,
                        "main_job_args": cfg.main_job_args}
    return result


SPEED_ROWS = (
    ("tactile_pad_frames_per_s", "tactile frames/s per pad, 14x12 @ 1.1 mm (default)"),
    ("tactile_pad_frames_per_s_32x32", "tactile frames/s per pad, 32x32 @ 0.5 mm"),
    ("tactile_pad_frames_per_s_64x64", "tactile frames/s per pad, 64x64 @ 0.25 mm"),
    ("tactile_pad_frames_per_s_piezo_11x9", "tactile frames/s per pad, profile piezo_11x9 (ideal)"),
    ("tactile_pad_frames_per_s_real_like", "tactile frames/s per pad, profile real_like (11x9, full read-out)"),
    ("regrasps_per_s", "re-grasps/s, parallel jaw (open-move-close-settle-read)"),
    ("regrasps_per_s_hand", "re-grasps/s, three-finger hand (rod, plate, disc)"),
    ("hand_to_jaw_regrasp_ratio", "hand / jaw re-grasp rate (target >= 0.6)"),
    ("env_steps_per_s", "env steps/s, GripRefine-v0"),
    ("episodes_per_s", "5-step episodes/s (with reset), GripRefine-v0"),
    ("env_steps_per_s_hand", "env steps/s, GripRefineHand-v0"),
    ("episodes_per_s_hand", "5-step episodes/s (with reset), GripRefineHand-v0"),
    ("samples_per_s_1_worker", "dataset samples/s, 1 worker"),
    ("samples_per_s_2_workers", "dataset samples/s, 2 workers (same job)"),
    ("generation_speedup_2_workers", "speed-up 1 -> 2 workers (target >= 1.8 on an idle 2-core machine)"),
    ("worker_startup_s", "start-up of a spawned worker process, s (inside the 2-worker time)"),
    ("training_samples_per_s", "training pairs/s (1 thread)"),
    ("decision_latency_ms", "decision latency ms (network, batch 1, 1 thread)"),
    ("policy_act_ms_native", "policy.act ms, shipped policy, torch (batch 1, 1 thread)"),
    ("policy_act_ms_onnx", "policy.act ms, same policy exported, ONNX Runtime (batch 1, 1 thread)"),
    ("main_job_s", "main job, s (fresh process, both cores)"),
    ("time_to_0_5mm_s", "time to 0.5 mm validation median, s (main job's training)"),
)
PEERS = ("peers at equal resolution, one core, side by side on a 2-core machine (README): 32x32 pad "
         "frames/s ours 3,136 (contact + ray casts included), Taxim 4,010 optical step / 1,921 full without "
         "shadow (press depth given), TACTO 56 (OpenGL on CPU); TacRefineNet ~10 ms inference + 90 ms "
         "preprocessing (Jetson Orin)")


def speed_table(result: dict[str, Any]) -> str:
    """The speed figures as a terminal table, with the published references below it."""
    from tacrefine.evaluation.results.report import text_table

    def value(key: str) -> str:
        if result.get(key) is None:
            return "n/a"
        two_decimals = key.endswith(("ratio", "speedup_2_workers", "startup_s"))
        return f"{result[key]:.2f}" if two_decimals else f"{result[key]:,.1f}"

    rows = [[label, value(key)] for key, label in SPEED_ROWS]
    machine = result.get("machine", {})
    load = machine.get("load_average_1_5_15")
    load_text = "/".join(f"{x:.1f}" for x in load) if load else "n/a"
    return (f"{text_table(['measure', 'value'], rows)}\n{PEERS}\n"
            f"machine: {machine.get('cpu_count')} cores, load average {load_text} (1/5/15 min), "
            f"torch {machine.get('torch')}, pybullet {machine.get('pybullet')}")


def write_speed(result: dict[str, Any], out: str | Path) -> Path:
    path = Path(out) / "speed.json"
    atomic_write_bytes(path, json.dumps(result, indent=1).encode("utf-8"))
    return path


__all__ = ["SpeedConfig", "machine_info", "main_job_run", "run_speed", "speed_table", "write_speed"]
