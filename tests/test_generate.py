"""Simulated generation: physical content, reproducibility per shard, resume after interruption, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.cli.generate_data import main as cli_main
from tacrefine.config import ConfigError, load_config
from tacrefine.data import records, storage
from tacrefine.data.generate import DataConfig, ShardSpec, generate_dataset, generate_shard, plan_shards
from tacrefine.data.storage import DatasetError, load_dataset, read_shard, validate_dataset
from tacrefine.sim.objects import get_object

OBJECTS = ("rod_r4", "plate_w6")


def tiny(**kw) -> DataConfig:
    base = {"objects": OBJECTS, "samples_per_object": 4, "shard_size": 2, "seed": 3, "workers": 1}
    return DataConfig(**{**base, **kw})


def files_state(root: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, storage.sha256_file(p)) for p in sorted(root.glob("shard-*.h5"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny dataset generated in one go, in one process."""
    out = tmp_path_factory.mktemp("reference")
    summary = generate_dataset(tiny(), out, progress=False)
    assert summary.complete and summary.samples == 8 and summary.shards_generated == 4
    return out


def test_plan_cuts_objects_into_indexed_shards():
    plan = plan_shards(tiny(samples_per_object=5))
    assert [(s.index, s.object_name, s.n_samples) for s in plan] == [
        (0, "rod_r4", 2), (1, "rod_r4", 2), (2, "rod_r4", 1), (3, "plate_w6", 2), (4, "plate_w6", 2),
        (5, "plate_w6", 1)]


def test_generated_samples_are_physical(reference):
    samples, manifest = load_dataset(reference)
    assert len(samples) == 8 and samples.object_names == list(OBJECTS)
    assert validate_dataset(reference) == []
    meta = manifest["metadata"]
    assert meta["refined_dofs"] == ["y", "z", "roll"]
    assert meta["tactile_shape"] == list(samples.tactile.shape[1:])
    assert meta["offset_range"] == {"y": 5.0, "z": 5.0, "roll": 10.0}
    assert "sensor" in meta and "gripper" in meta and "workers" not in meta["generation"]
    for k, name in enumerate(OBJECTS):
        sel = samples.object_id == k
        spec = get_object(name)
        # both pads closed on the object: the finger openings add up to its thickness
        np.testing.assert_allclose(samples.joints[sel].sum(axis=1) * 1000, spec.thickness_mm, atol=0.5)
        # every pad feels it
        assert (samples.tactile[sel][:, :, 0].reshape(sel.sum(), 2, -1) > 0).any(axis=2).all()
        # the recorded grasp is the nominal grasp moved by the commanded offset (object barely moves)
        g0 = np.repeat(spec.nominal_grasp()[None], sel.sum(), axis=0)
        realised = geometry.batch_correction_vectors(g0, samples.grasp[sel])
        err = realised - samples.offset[sel]
        assert np.abs(err[:, :3]).max() < 0.0005 and np.degrees(np.abs(err[:, 3:]).max()) < 2.0
    off = samples.offset
    assert np.abs(off[:, [0, 4, 5]]).max() == 0.0
    assert np.abs(off[:, 1:3]).max() <= 0.005 and np.abs(off[:, 3]).max() <= np.radians(10.0)
    assert np.abs(off[:, 1:3]).max() > 0.001  # offsets really vary


def test_shard_is_reproducible_from_seed_and_index(reference):
    cfg = tiny()
    spec = plan_shards(cfg)[3]
    fresh, rejected = generate_shard(cfg, spec)  # alone, in a new physics world
    stored = read_shard(reference / "shard-00003.h5")  # made after three other shards in the same world
    for name in ("tactile", "joints", "grasp", "offset"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(stored, name))
    other, _ = generate_shard(tiny(seed=4), spec)
    assert not np.array_equal(other.grasp, fresh.grasp)
    written = storage.write_shard(reference.parent / "rewrite", 3, fresh, seed=cfg.seed,
                                  n_rejected=sum(rejected.values()))
    entry = storage.read_manifest(reference)["shards"][3]
    assert written["sha256"] == entry["sha256"]  # byte-identical file


def test_resume_after_partial_run_and_debris(tmp_path, reference):
    out = tmp_path / "ds"
    first = generate_dataset(tiny(), out, max_shards=2, progress=False)
    assert first.shards_generated == 2 and not first.complete
    before = files_state(out)
    assert list(before) == ["shard-00000.h5", "shard-00001.h5"]
    # what a killed run leaves behind: a half-written temp file, a finished but unrecorded shard
    (out / ".shard-00002.h5.x1y2.tmp").write_bytes(b"partial")
    (out / "shard-00003.h5").write_bytes(b"unrecorded")
    second = generate_dataset(tiny(workers=2), out, progress=False)
    assert second.shards_skipped == 2 and second.shards_generated == 2 and second.complete
    after = files_state(out)
    assert {k: after[k] for k in before} == before  # finished shards untouched
    assert not list(out.glob(".*.tmp"))
    samples, manifest = load_dataset(out)
    ref, ref_manifest = load_dataset(reference)
    assert [e["index"] for e in manifest["shards"]] == [0, 1, 2, 3]
    assert [e["sha256"] for e in manifest["shards"]] == [e["sha256"] for e in ref_manifest["shards"]]
    np.testing.assert_array_equal(samples.grasp, ref.grasp)  # nothing lost, nothing duplicated
    third = generate_dataset(tiny(), out, progress=False)
    assert third.shards_generated == 0 and files_state(out) == after


def test_corrupted_shard_is_detected_and_regenerated(tmp_path, reference):
    out = tmp_path / "ds"
    generate_dataset(tiny(), out, progress=False)
    target = out / "shard-00002.h5"
    good_sha = storage.sha256_file(target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x55
    target.write_bytes(bytes(data))
    problems = validate_dataset(out)
    assert len(problems) == 1 and problems[0].startswith("shard 00002 (shard-00002.h5): checksum mismatch")
    with pytest.raises(DatasetError, match="shard 00002"):
        load_dataset(out)
    untouched = {k: v for k, v in files_state(out).items() if k != target.name}
    summary = generate_dataset(tiny(), out, progress=False)
    assert summary.shards_generated == 1 and summary.shards_skipped == 3
    assert storage.sha256_file(target) == good_sha
    assert {k: v for k, v in files_state(out).items() if k != target.name} == untouched
    assert validate_dataset(out) == []


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "killed"
    cfg = dict(samples_per_object=25, shard_size=1)
    args = [sys.executable, "-m", "tacrefine.cli.generate_data", "generate", "--out", str(out),
            "--workers", "1", "--no-progress", "--set", "objects=[rod_r4,plate_w6]", "samples_per_object=25",
            "shard_size=1", "seed=3"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    recorded: list[dict] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            recorded = list(records.read_records(out).values()) if out.is_dir() else []
            if len(recorded) >= 3:
                break
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 3 <= len(recorded) < 50, "the run must be killed part-way"
    # a shard is done once the worker wrote its record, whether or not the manifest caught up
    done = {e["file"] for e in records.read_records(out).values()}
    survivors = {p.name: v for p, v in ((p, p.stat().st_mtime_ns) for p in out.glob("shard-*.h5"))
                 if p.name in done}
    assert len(survivors) >= 3
    summary = generate_dataset(tiny(**cfg), out, progress=False)
    assert summary.complete and summary.samples_total == 50
    assert {k: (out / k).stat().st_mtime_ns for k in survivors} == survivors
    samples, manifest = load_dataset(out)
    assert sorted(e["index"] for e in manifest["shards"]) == list(range(50))
    assert len({tuple(g.ravel()) for g in samples.grasp}) == 50
    expected, _ = generate_shard(tiny(**cfg), ShardSpec(40, "plate_w6", 1))
    np.testing.assert_array_equal(samples.grasp[40], expected.grasp[0])


def test_rejected_grasps_are_counted_and_never_stored(tmp_path):
    cfg = tiny(objects=("rod_r4",), samples_per_object=4, offset_range={"y": 14.0, "z": 0.0, "roll": 0.0},
               max_rejects=200)
    summary = generate_dataset(cfg, tmp_path, progress=False)
    manifest = storage.read_manifest(tmp_path)
    assert summary.rejected == sum(e["n_rejected"] for e in manifest["shards"]) > 0
    assert all(sum(e["rejected_by_reason"].values()) == e["n_rejected"] for e in manifest["shards"])
    samples, _ = load_dataset(tmp_path)
    assert (samples.tactile[:, :, 0].reshape(4, 2, -1) > 0).any(axis=2).all()
    # a taxel ray (along the pad normal, through the taxel centre) can only meet the rod if the
    # rod's axis is within one radius of the outermost taxel column
    sensor = cfg.cell.sensor
    reach_mm = (sensor.cols - 1) / 2 * sensor.pitch_mm + get_object("rod_r4").thickness_mm / 2
    assert np.abs(samples.offset[:, 1]).max() * 1000 < reach_mm


def test_shard_fails_with_a_clear_error_after_max_rejects():
    missed = SimpleNamespace(ok=False, failure="not_in_contact", tactile=np.zeros((2, 1, 3, 3), np.uint8),
                             joints=np.zeros(2, np.float32), grasp=np.eye(4))
    cell = SimpleNamespace(reset=lambda: None, load_object=lambda name: None, place_object=lambda rng: None,
                           grasp_offset=lambda offset, rng=None: missed)
    with pytest.raises(DatasetError, match=r"shard 00001 .*'rod_r4' rejected 5 grasps.*not_in_contact"):
        generate_shard(tiny(max_rejects=5), ShardSpec(1, "rod_r4", 2), cell=cell)


def _sparse_cell(every: int) -> SimpleNamespace:
    """A stand-in cell whose every ``every``-th grasp succeeds (a found shape that is hard to grasp)."""
    count = {"n": 0}

    def grasp_offset(offset, rng=None):
        count["n"] += 1
        ok = count["n"] % every == 0
        return SimpleNamespace(ok=ok, failure=None if ok else "not_in_contact",
                               tactile=np.full((2, 1, 3, 3), 9 if ok else 0, np.uint8),
                               joints=np.zeros(2, np.float32), grasp=np.eye(4))

    return SimpleNamespace(reset=lambda: None, load_object=lambda name: None, place_object=lambda rng: None,
                           grasp_offset=grasp_offset, spec=SimpleNamespace(category="custom"))


def test_a_pool_part_that_reaches_max_rejects_keeps_the_grasps_it_gave(tmp_path, monkeypatch):
    from tacrefine.data import shard

    spec = ShardSpec(0, "rod_r4", 10)
    with pytest.raises(DatasetError, match="rejected 6 grasps"):  # without skip_unusable the run fails
        generate_shard(tiny(max_rejects=6), spec, cell=_sparse_cell(3))
    kept, rejected = generate_shard(tiny(max_rejects=6, skip_unusable=True), spec, cell=_sparse_cell(3))
    assert len(kept) == 2 and sum(rejected.values()) == 6  # 2 accepted among the first 6 rejections
    assert kept.object_id.shape == (2,) and kept.dof_mask.shape[0] == 2
    with pytest.raises(DatasetError, match="rejected 6 grasps"):  # fewer than two: nothing to pair
        generate_shard(tiny(max_rejects=6, skip_unusable=True), spec, cell=_sparse_cell(7))
    # written and recorded as a short shard that says it gave up, and read back as such
    cfg = tiny(objects=("rod_r4",), samples_per_object=10, shard_size=10, max_rejects=6, skip_unusable=True)
    monkeypatch.setattr(shard, "_cell_for", lambda cfg: _sparse_cell(3))
    entry = shard.produce_shard(cfg, spec, str(tmp_path))
    assert entry["n_samples"] == 2 and entry["gave_up"] == "2 of 10 grasps before 6 rejections"
    assert len(read_shard(tmp_path / entry["file"])) == 2


def test_a_pool_part_that_gives_no_pair_is_left_out_recorded_and_not_retried(tmp_path, monkeypatch, capsys):
    """A found shape the hand cannot hold (fewer than two grasps) no longer fails a pool run: its
    shard is recorded as left out (no file, no samples, the reason), the run completes, the data
    loads without it, validation does not call it missing, and a resume does not retry it."""
    import dataclasses

    from tacrefine.data import shard
    from tacrefine.data.storage import read_manifest

    class StandInCell:
        """Holds every part but the box, which it drops on every grasp."""

        spec = SimpleNamespace(category="custom")

        def reset(self) -> None:
            pass

        def load_object(self, spec) -> None:
            self.name = spec.name

        def place_object(self, rng) -> None:
            pass

        def grasp_offset(self, offset, rng=None):
            ok = self.name != "box_8x8"
            return SimpleNamespace(ok=ok, failure=None if ok else "dropped",
                                   tactile=np.full((2, 1, 14, 12), 9 if ok else 0, np.uint8),
                                   joints=np.zeros(2, np.float32), grasp=np.eye(4))

    monkeypatch.setattr(shard, "_cell_for", lambda cfg: StandInCell())
    cfg = tiny(objects=("rod_r4", "box_8x8", "plate_w6"), samples_per_object=3, shard_size=3, max_rejects=5)
    with pytest.raises(Exception, match=r"'box_8x8' rejected 5 grasps.*narrow the offset"):
        generate_dataset(cfg, tmp_path / "strict", progress=False)  # without skip_unusable: fails
    pool = dataclasses.replace(cfg, skip_unusable=True)
    summary = generate_dataset(pool, tmp_path / "pool", progress=False)
    assert summary.complete and summary.left_out == ("box_8x8",) and summary.samples_total == 6
    manifest = read_manifest(tmp_path / "pool")
    assert [e["object"] for e in manifest["left_out"]] == ["box_8x8"]
    assert manifest["left_out"][0]["rejected_by_reason"] == {"dropped": 5}
    assert "fewer than 2 grasps" in manifest["left_out"][0]["left_out"]
    assert "file" not in manifest["left_out"][0] and len(list((tmp_path / "pool").glob("shard-*.h5"))) == 2
    assert validate_dataset(tmp_path / "pool") == []
    assert set(load_dataset(tmp_path / "pool")[0].object_names) == {"rod_r4", "plate_w6"}
    again = generate_dataset(pool, tmp_path / "pool", progress=False)  # resume: nothing to redo
    assert again.shards_generated == 0 and again.complete and again.left_out == ("box_8x8",)
    assert cli_main(["validate", str(tmp_path / "pool")]) == 0
    assert "left out (pool parts with fewer than 2 grasps): box_8x8" in capsys.readouterr().out


def test_other_config_in_the_same_directory_is_refused(tmp_path, reference):
    with pytest.raises(DatasetError, match=r"different config .*seed"):
        generate_dataset(tiny(seed=99), reference, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate_dataset(tiny(), tmp_path, progress=False)


def test_default_offsets_match_the_environment():
    from tacrefine.envs.grip_refine import DEFAULT_OFFSET_RANGE

    cfg = DataConfig()
    assert cfg.union_dofs() == ("y", "z", "roll")
    assert cfg.offset_range == {d: DEFAULT_OFFSET_RANGE[d] for d in ("y", "z", "roll")}


def test_config_is_validated_and_loads_from_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no_such_object"):
        DataConfig(objects=("no_such_object",))
    with pytest.raises(ConfigError, match="data.samples_per_object"):
        DataConfig(samples_per_object=0)
    with pytest.raises(ConfigError, match="data.offset_range.y"):
        DataConfig(offset_range={"y": -1.0, "z": 5.0, "roll": 10.0})
    with pytest.raises(ConfigError, match=r"data.offset_range: .*'spin'"):
        DataConfig(offset_range={"y": 1.0, "z": 5.0, "roll": 10.0, "spin": 1.0})
    with pytest.raises(ConfigError, match=r"data.offset_range: .*missing \['roll'\]"):
        DataConfig(offset_range={"y": 1.0, "z": 5.0})
    with pytest.raises(ConfigError, match="data.refined_dofs"):
        DataConfig(refined_dofs=("y", "spin"))
    path = tmp_path / "data.yaml"
    path.write_text("objects: [rod_r3]\nshard_size: 7\ncell:\n  sensor:\n    shear: true\n")
    cfg = load_config(DataConfig, path, ["samples_per_object=9"])
    assert cfg.objects == ("rod_r3",) and cfg.shard_size == 7 and cfg.samples_per_object == 9
    assert cfg.cell.sensor.shear and cfg.cell.sensor.channels == 3


def test_cli_generate_validate_and_report_bad_shards(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli_main(["generate", "--out", str(out), "--workers", "1", "--no-progress", "--set",
                   "objects=[rod_r4]", "samples_per_object=3", "shard_size=2"])
    assert rc == 0
    assert "3 samples" in capsys.readouterr().out
    assert (out / "config.yaml").is_file()
    assert load_config(DataConfig, out / "config.yaml").samples_per_object == 3
    assert cli_main(["validate", str(out)]) == 0
    assert "valid, 3 samples in 2 shards" in capsys.readouterr().out
    (out / "shard-00001.h5").write_bytes(b"garbage")
    assert cli_main(["validate", str(out)]) == 1
    captured = capsys.readouterr()
    assert "BAD" in captured.out and "shard 00001 (shard-00001.h5)" in captured.err
    assert "shard 00000" not in captured.err
    assert cli_main(["generate", "--out", str(tmp_path / "x"), "--set", "shard_size=-2"]) == 2
    assert "data.shard_size" in capsys.readouterr().err
    assert cli_main(["validate", str(tmp_path / "nothing")]) == 1
