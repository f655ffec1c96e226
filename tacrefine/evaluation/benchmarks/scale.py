"""Scale benchmark: generation grasps/s on 1 and 2 local workers and on a local Ray, training
pairs/s, and training peak memory against dataset size.

Why these numbers: a dataset must be the same whatever runs it (the three generation runs
produce the same job; their shards are compared), the second worker should nearly double
throughput, and training memory should not grow with the dataset beyond the samples
themselves. Each generation run is a fresh process, timed by the generation driver as a
user's run is: the wall time includes the spawned worker's start-up, which is also measured
on its own. Figures depend on what else runs on the machine (load recorded per run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes


@dataclass(frozen=True)
class ScaleConfig:
    """Sizes of the scale measurements.

    Attributes:
        objects: objects of the generation job.
        samples_per_object: grasps per object (the job is the same for every backend).
        shard_size: grasps per shard (the unit of work).
        ray: include the local-Ray run (needs the ``ray`` extra).
        rss_sizes: dataset sizes (samples) whose training peak RSS is compared.
        progress: print a line per measurement.
    """

    objects: tuple[str, ...] = ("rod_r4", "plate_w6", "wedge", "t_shape")
    samples_per_object: int = 1500
    shard_size: int = 50
    ray: bool = True
    rss_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    progress: bool = True


def _say(cfg: ScaleConfig, text: str) -> None:
    if cfg.progress:
        print(text, flush=True)


def worker_startup_s() -> float:
    """Seconds until a freshly spawned worker process has imported the shard job and run a
    no-op (the driver, the other lane, runs its no-op at once)."""
    from tacrefine.parallel import Job
    from tacrefine.parallel.local import LocalExecutor

    t0 = time.perf_counter()
    list(LocalExecutor(2).run(_warm, [Job((), "warm-up"), Job((), "warm-up")], lambda n: None))
    return time.perf_counter() - t0


def _warm(report: Any) -> int:
    import tacrefine.data.shard  # noqa: F401  (what a generation worker imports)
    import tacrefine.sim.cell  # noqa: F401

    return 0


def generation_run(objects: list[str], samples_per_object: int, shard_size: int, backend: str,
                   workers: int) -> dict[str, Any]:
    """One generation run, as ``generate_data.py generate`` does it (meant for a fresh process:
    ``generate_dataset``'s own clock, so the driver's imports are outside it for every run,
    and a spawned worker's start-up is inside it)."""
    from tacrefine.data import storage
    from tacrefine.data.generate import DataConfig, generate_dataset

    data = DataConfig(objects=tuple(objects), samples_per_object=samples_per_object, shard_size=shard_size,
                      seed=0, workers=workers)
    with tempfile.TemporaryDirectory(prefix="tacrefine-scale-") as tmp:
        out = Path(tmp) / "data"
        extra: dict[str, Any] = {}
        if backend == "ray":
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            extra["ray_init_s"] = round(time.perf_counter() - t0, 3)
            try:
                summary = generate_dataset(data, out, progress=False, backend="ray")
            finally:
                ray.shutdown()
        else:
            summary = generate_dataset(data, out, progress=False)
        shards = storage.read_manifest(out)["shards"]
    busy = sum(e.get("seconds", 0.0) for e in shards)
    return {"backend": backend, "workers": workers, "grasps_per_s": summary.samples_per_s,
            "seconds": summary.seconds, "grasps": summary.samples, "busy_shard_seconds": round(busy, 3),
            "efficiency": round(busy / (workers * summary.seconds), 3) if summary.seconds else None,
            "shard_sha256": [e["sha256"] for e in shards], **extra}


_GENERATION_CHILD = """
import json, sys
from tacrefine.evaluation.benchmarks.scale import generation_run, worker_startup_s
args = json.loads(sys.argv[1])
result = worker_startup_s() if args.pop("startup", False) else generation_run(**args)
print(json.dumps(result))
"""


def _in_fresh_process(args: dict[str, Any]) -> Any:
    proc = subprocess.run([sys.executable, "-c", _GENERATION_CHILD, json.dumps(args)], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"scale benchmark run {args} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def generation(cfg: ScaleConfig) -> dict[str, Any]:
    """The same job on local 1, local 2 and (optionally) Ray with 2 CPUs, each in a fresh
    process as a user would run it; shards compared; a spawned worker's start-up on its own."""
    runs: dict[str, Any] = {}
    hashes: dict[str, list[str]] = {}
    plan = [("local_1", "local", 1), ("local_2", "local", 2)] + ([("ray_2", "ray", 2)] if cfg.ray else [])
    for name, backend, workers in plan:
        load = os.getloadavg()[0]
        run = _in_fresh_process({"objects": list(cfg.objects), "samples_per_object": cfg.samples_per_object,
                                 "shard_size": cfg.shard_size, "backend": backend, "workers": workers})
        hashes[name] = run.pop("shard_sha256")
        runs[name] = {**run, "load_average_1min_before": round(load, 2)}
        _say(cfg, f"generation {name}: {run['grasps_per_s']:.0f} grasps/s ({run['seconds']:.1f} s, "
                  f"load before {load:.2f})")
    base = runs["local_1"]["grasps_per_s"]
    return {
        "job": {"objects": list(cfg.objects), "samples_per_object": cfg.samples_per_object,
                "shard_size": cfg.shard_size, "shards": len(hashes["local_1"])},
        "runs": runs,
        "speedup_local_2": round(runs["local_2"]["grasps_per_s"] / base, 3),
        "speedup_ray_2": round(runs["ray_2"]["grasps_per_s"] / base, 3) if "ray_2" in runs else None,
        "identical_shards": all(h == hashes["local_1"] for h in hashes.values()),
        "worker_startup_s": round(_in_fresh_process({"startup": True}), 3),
    }


def write_synthetic_dataset(root: Path, n_samples: int, shard_size: int = 250, seed: int = 0) -> None:
    """A dataset of ``n_samples`` random (valid) grasps in the default sensor's shape, in
    shards of the generator's default size, for memory and throughput measurements only
    (training on it learns nothing)."""
    from scipy.spatial.transform import Rotation

    from tacrefine.data import storage
    from tacrefine.data.samples import GraspSamples

    rng = np.random.default_rng(seed)
    storage.init_manifest(root, {"refined_dofs": ["y", "z", "roll"], "tactile_shape": [2, 1, 14, 12],
                                 "source": "synthetic"}, n_shards_planned=-(-n_samples // shard_size))
    entries = []
    for index, start in enumerate(range(0, n_samples, shard_size)):
        n = min(shard_size, n_samples - start)
        offset = np.zeros((n, 6))
        offset[:, 1:4] = rng.uniform(-1, 1, (n, 3)) * [0.005, 0.005, 0.17]
        grasp = np.tile(np.eye(4), (n, 1, 1))
        grasp[:, :3, :3] = Rotation.from_rotvec(offset[:, 3:]).as_matrix()
        grasp[:, :3, 3] = offset[:, :3]
        samples = GraspSamples(tactile=rng.integers(0, 256, (n, 2, 1, 14, 12), dtype=np.uint8),
                               joints=rng.uniform(0.002, 0.004, (n, 2)).astype(np.float32), grasp=grasp,
                               offset=offset, object_id=np.full(n, index % 4, np.int32),
                               object_names=["a", "b", "c", "d"])
        entries.append(storage.write_shard(root, index, samples, compression="lzf"))
    storage.record_shards(root, entries)


_TRAIN_CHILD = """
import json, resource, sys
from tacrefine.training.config import load_run_config
from tacrefine.training.loop import train
cfg = load_run_config(sys.argv[1], sys.argv[2:])
result = train(cfg)
rss_end = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_at_end_mb": rss_end, "pairs_per_s": result.last["samples_per_s"]}))
"""

_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _train_child(config: str, data: Path, out: Path, overrides: list[str]) -> dict[str, Any]:
    args = [sys.executable, "-c", _TRAIN_CHILD, str(_CONFIGS / config), f"data.path={data}", f"train.out_dir={out}",
            "train.progress=false", "train.epochs=1", "train.device=cpu", *overrides]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise RuntimeError(f"training run on {data.name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def batch_draw_ms(data: Path, batch_size: int = 256, batches: int = 40, rounds: int = 5) -> dict[str, float]:
    """Milliseconds to draw one training batch (pairs and their images) from the dataset at
    ``data``, streamed from the shards vs loaded in memory; median of ``rounds`` interleaved
    rounds of ``batches`` batches (what streaming adds to every training step)."""
    from tacrefine.data.pairs import PairSampler
    from tacrefine.data.storage import load_dataset
    from tacrefine.data.stream import open_dataset

    samplers = {}
    for mode, opened in (("stream", open_dataset(data)[0]), ("memory", load_dataset(data)[0])):
        samplers[mode] = PairSampler(opened, np.arange(len(opened)), ("y", "z", "roll"))
    times: dict[str, list[float]] = {mode: [] for mode in samplers}
    for round_ in range(rounds):
        for mode, sampler in samplers.items():
            rng = np.random.default_rng(round_)
            t0 = time.perf_counter()
            for _ in range(batches):
                sampler.sample(batch_size, rng)
            times[mode].append((time.perf_counter() - t0) / batches * 1e3)
    return {mode: round(float(np.median(v)), 2) for mode, v in times.items()}


def training_memory(cfg: ScaleConfig) -> dict[str, Any]:
    """Peak RSS of a short training run (fresh process each, smoke model) per dataset size,
    streaming; the largest size also with the images loaded into memory (the old way); and
    training pairs/s of the default model (batch 256) streaming vs in memory on the middle size."""
    runs: dict[str, Any] = {}
    throughput: dict[str, Any] = {}
    draw: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tacrefine-rss-") as tmp:
        for i, n in enumerate(cfg.rss_sizes):
            data = Path(tmp) / f"data{n}"
            write_synthetic_dataset(data, n)
            modes = [("stream", "true")] + ([("memory", "false")] if i == len(cfg.rss_sizes) - 1 else [])
            for mode, flag in modes:
                key = f"{n}_{mode}"
                runs[key] = _train_child("smoke.yaml", data, Path(tmp) / f"run_{key}",
                                         [f"data.stream={flag}", "train.steps_per_epoch=20"])
                _say(cfg, f"training on {n:,} samples ({mode}): peak RSS {runs[key]['peak_rss_mb']:.0f} MB, "
                          f"{runs[key]['pairs_per_s']:.0f} pairs/s (smoke model)")
            if n == cfg.rss_sizes[min(1, len(cfg.rss_sizes) - 1)]:
                draw = batch_draw_ms(data)
                _say(cfg, f"drawing a 256-pair batch from {n:,} samples: {draw['stream']:.1f} ms streamed, "
                          f"{draw['memory']:.1f} ms from memory")
                for mode, flag in (("stream", "true"), ("memory", "false")):
                    throughput[mode] = _train_child(
                        "default.yaml", data, Path(tmp) / f"rate_{mode}",
                        [f"data.stream={flag}", "train.steps_per_epoch=30", "train.num_threads=2",
                         "data.val_pairs=256", "data.norm_pairs=2048"])["pairs_per_s"]
                    _say(cfg, f"training pairs/s on {n:,} samples ({mode}), default model: {throughput[mode]:.0f}")
            shutil.rmtree(data)
    first, last = f"{cfg.rss_sizes[0]}_stream", f"{cfg.rss_sizes[-1]}_stream"
    second = f"{cfg.rss_sizes[min(1, len(cfg.rss_sizes) - 1)]}_stream"
    return {"peak_rss_mb": {k: round(v["peak_rss_mb"], 1) for k, v in runs.items()},
            "rss_at_end_mb": {k: round(v["rss_at_end_mb"], 1) for k, v in runs.items()},
            "pairs_per_s_smoke_model": {k: round(v["pairs_per_s"], 1) for k, v in runs.items()},
            "note": "peak = ru_maxrss of a fresh process (includes torch's import-time peak); stream = images "
                    "read from the shards on demand, memory = images loaded (data.stream=false)",
            "rss_ratio_largest_to_smallest": round(runs[last]["peak_rss_mb"] / runs[first]["peak_rss_mb"], 3),
            "rss_ratio_second_to_smallest": round(runs[second]["peak_rss_mb"] / runs[first]["peak_rss_mb"], 3),
            "training_pairs_per_s_default_model": {k: round(v, 1) for k, v in throughput.items()},
            "batch_draw_ms": draw,
            "throughput_samples": cfg.rss_sizes[min(1, len(cfg.rss_sizes) - 1)],
            "bytes_per_sample_in_memory": {"stream": _bytes_per_sample(images=False),
                                           "memory": _bytes_per_sample(images=True)}}


def _bytes_per_sample(images: bool) -> int:
    """What one default-sensor sample holds in memory: pose fields (joints, grasp, offset, id,
    mask), plus its images when loaded."""
    return (2 * 1 * 14 * 12 if images else 0) + 2 * 4 + 16 * 8 + 6 * 8 + 4 + 6


def training_rate() -> dict[str, Any]:
    from tacrefine.policy.model import ModelConfig
    from tacrefine.training.throughput import measure_training_throughput

    shape = (2, 1, 14, 12)
    rate = measure_training_throughput(ModelConfig(), shape, batch_size=256, steps=8, warmup=2, num_threads=2)
    return {"pairs_per_s": round(rate, 1), "batch_size": 256, "torch_threads": 2, "model": "default",
            "data": "synthetic tensors (network only)"}


def run_scale(cfg: ScaleConfig | None = None) -> dict[str, Any]:
    from tacrefine.evaluation.results.provenance import machine_info

    cfg = cfg or ScaleConfig()
    result: dict[str, Any] = {"machine": machine_info(), "generation": generation(cfg)}
    result["training"] = training_rate()
    _say(cfg, f"training: {result['training']['pairs_per_s']:.0f} pairs/s")
    result["training_memory"] = training_memory(cfg)
    result["machine_after"] = {"load_average_1_5_15": list(os.getloadavg())}
    return result


def scale_table(result: dict[str, Any]) -> str:
    g, t, m = result["generation"], result["training"], result["training_memory"]
    rows = [(f"generation, {r['backend']} x{r['workers']}", f"{r['grasps_per_s']:.0f} grasps/s",
             f"{r['seconds']:.1f} s wall, efficiency {r['efficiency']}") for r in g["runs"].values()]
    rows += [("speed-up 1 -> 2 local workers", f"{g['speedup_local_2']:.2f}x", "same job, wall time"),
             ("speed-up 1 local -> Ray 2 CPUs", f"{g['speedup_ray_2']:.2f}x" if g["speedup_ray_2"] else "-", ""),
             ("identical shards (all runs)", str(g["identical_shards"]), f"{g['job']['shards']} shards"),
             ("worker start-up", f"{g['worker_startup_s']:.2f} s", "one spawned worker: spawn + imports"),
             ("training, network only", f"{t['pairs_per_s']:.0f} pairs/s",
              f"batch {t['batch_size']}, {t['torch_threads']} threads, synthetic tensors")]
    n_rate = f"{m['throughput_samples']:,}"
    rows += [(f"training from {n_rate} samples, {mode}", f"{v:.0f} pairs/s", "default model, batch 256, 2 threads")
             for mode, v in m["training_pairs_per_s_default_model"].items()]
    rows += [(f"drawing a 256-pair batch, {mode}", f"{v:.1f} ms", f"{n_rate} samples, PairSampler.sample")
             for mode, v in m.get("batch_draw_ms", {}).items()]
    for key, v in m["peak_rss_mb"].items():
        n, mode = key.split("_")
        rows.append((f"training peak RSS, {int(n):,} samples, {mode}", f"{v:.0f} MB",
                     f"RSS at the end {m['rss_at_end_mb'][key]:.0f} MB"))
    sizes = [int(k.split("_")[0]) for k in m["peak_rss_mb"] if k.endswith("_stream")]
    rows.append((f"RSS ratio {sizes[min(1, len(sizes) - 1)]:,} / {sizes[0]:,} samples (stream)",
                 f"{m['rss_ratio_second_to_smallest']:.2f}x", "target <= 1.2x (issue 12: 100k vs 10k)"))
    rows.append((f"RSS ratio {sizes[-1]:,} / {sizes[0]:,} samples (stream)",
                 f"{m['rss_ratio_largest_to_smallest']:.2f}x", "pose fields in memory, ~0.2 KB a sample"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:>16}  {c}" for a, b, c in rows)


def write_scale(result: dict[str, Any], out: str | Path) -> Path:
    path = Path(out) / "scale.json"
    atomic_write_bytes(path, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
    return path
