"""The evaluation journal's key covers everything a job's records depend on, and a damaged
job file is played again, never used nor fatal."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from tacrefine.evaluation import journal as journal_module
from tacrefine.evaluation.jobs import EpisodeJob
from tacrefine.evaluation.journal import Journal, part_files
from tacrefine.evaluation.protocol import EvalConfig
from tacrefine.policy import registry

CFG = EvalConfig(objects=("wedge",), episodes_per_object=2, max_steps=2, target_modes=("fixed",),
                 panel_episodes=1, render=False, progress=False)
RESULT = {"records": [{"object": "wedge", "steps": 2, "error": 0.5}], "captures": [],
          "env_info": {"hand": "parallel_jaw"}, "policy_info": {"label": "noop"}, "seconds": 0.25}


def _job(spec: str = "baseline:noop", items: tuple = ((0, "wedge"), (1, "wedge"))) -> EpisodeJob:
    return EpisodeJob(spec, "fixed", items)


def test_render_is_part_of_the_key_since_it_decides_whether_scene_frames_are_recorded(tmp_path):
    assert Journal(tmp_path, CFG).key(_job()) != Journal(tmp_path, dataclasses.replace(CFG, render=True)).key(_job())
    assert Journal(tmp_path, CFG).key(_job()) == Journal(tmp_path, dataclasses.replace(CFG, plots=False)).key(_job())


def test_pretrained_is_keyed_by_the_shipped_file_it_resolves_to_not_a_local_file_of_that_name(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped.pt"
    shipped.write_bytes(b"old weights")
    opened = []

    class FakeEnv:
        def close(self):
            opened.append("closed")

    monkeypatch.setattr("tacrefine.evaluation.runner.make_env", lambda cfg, mode: FakeEnv())
    monkeypatch.setattr(registry, "select_pretrained", lambda env: shipped)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pretrained").write_bytes(b"a stray file")
    before = Journal(tmp_path, CFG).key(_job("pretrained"))
    assert opened == ["closed"]
    (tmp_path / "pretrained").write_bytes(b"another stray file")
    assert Journal(tmp_path, CFG).key(_job("pretrained")) == before
    shipped.write_bytes(b"new weights")  # a new shipped checkpoint, same package version
    assert Journal(tmp_path, CFG).key(_job("pretrained")) != before


def test_a_checkpoint_path_is_keyed_by_its_content(tmp_path):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"one")
    before = Journal(tmp_path, CFG).key(_job(str(ckpt)))
    ckpt.write_bytes(b"two")
    assert Journal(tmp_path, CFG).key(_job(str(ckpt))) != before


def test_user_part_files_and_the_meshes_their_urdf_names_are_in_the_key(tmp_path):
    folder = tmp_path / "part"
    folder.mkdir()
    (folder / "slab.obj").write_text("v 0 0 0\n")
    (folder / "part.urdf").write_text('<robot name="p"><link name="b"><collision><geometry>'
                                      '<mesh filename="slab.obj"/></geometry></collision></link></robot>')
    users = [{"name": "p", "urdf": str(folder / "part.urdf")}]
    first = part_files(users)
    assert set(first) == {str((folder / "part.urdf").resolve()), str((folder / "slab.obj").resolve())}
    (folder / "slab.obj").write_text("v 0 0 0.001\n")  # the geometry changes, the URDF does not
    second = part_files(users)
    assert second[str((folder / "slab.obj").resolve())] != first[str((folder / "slab.obj").resolve())]
    assert second[str((folder / "part.urdf").resolve())] == first[str((folder / "part.urdf").resolve())]
    mesh = tmp_path / "solo.obj"
    mesh.write_text("v 0 0 0\n")
    before = part_files([{"name": "m", "mesh": str(mesh)}])
    mesh.write_text("v 1 0 0\n")
    assert part_files([{"name": "m", "mesh": str(mesh)}]) != before


def test_an_edited_user_part_changes_the_key_of_a_configured_evaluation(tmp_path, monkeypatch):
    edits = iter(["a", "b"])
    monkeypatch.setattr(journal_module, "part_files", lambda users: {"part.urdf": next(edits)})
    assert Journal(tmp_path, CFG).key(_job()) != Journal(tmp_path, CFG).key(_job())


def test_a_saved_job_loads_back(tmp_path):
    book = Journal(tmp_path, CFG)
    book.save(_job(), RESULT)
    loaded = book.load(_job())
    assert loaded is not None and loaded["records"] == RESULT["records"] and loaded["seconds"] == 0.25
    assert book.damaged == []


def test_a_job_is_found_by_what_it_is_not_by_its_place_in_the_run(tmp_path):
    """An evaluation of more policies takes the finished jobs of one of fewer."""
    Journal(tmp_path, CFG).save(_job("baseline:noop"), RESULT)
    later = Journal(tmp_path, CFG)  # a run that lists another policy first
    assert later.load(_job("baseline:random")) is None
    loaded = later.load(_job("baseline:noop"))
    assert loaded is not None and loaded["records"] == RESULT["records"]
    assert later.load(_job("baseline:noop", items=((2, "wedge"), (3, "wedge")))) is None


@pytest.mark.parametrize("damage", ["[]\n", "42\n", "{not json", "edit"])
def test_a_damaged_job_file_is_played_again_and_named_once_in_the_log(tmp_path, damage, caplog):
    book = Journal(tmp_path, CFG)
    book.save(_job(), RESULT)
    (path,) = tmp_path.glob("job-*.json")
    if damage == "edit":  # still valid JSON with the right key: only the checksum tells
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["records"][0]["error"] = 0.05
        damage = json.dumps(meta)
    path.write_text(damage, encoding="utf-8")
    fresh = Journal(tmp_path, CFG)
    assert fresh.load(_job()) is None
    assert fresh.load(_job(items=((9, "rod_r3"),))) is None  # absent: not damaged
    assert len(fresh.damaged) == 1 and path.name in fresh.damaged[0]
    with caplog.at_level(logging.WARNING, logger="tacrefine.evaluation.journal"):
        fresh.report_damaged()
    assert [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()] != []
    assert len(caplog.records) == 1


def test_an_edited_checkout_does_not_take_the_old_codes_jobs(tmp_path, monkeypatch):
    """The key holds the package's source digest: records of other code are played again."""
    from tacrefine.evaluation.episodes import journal as journal_module
    from tacrefine.source_digest import source_digest

    Journal(tmp_path, CFG).save(_job(), RESULT)
    assert Journal(tmp_path, CFG).load(_job()) is not None
    monkeypatch.setattr(journal_module, "package_digest", lambda: "the code after an edit")
    assert Journal(tmp_path, CFG).load(_job()) is None
    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("x = 1\n")
    before = source_digest(str(code))
    source_digest.cache_clear()
    (code / "a.py").write_text("x = 2\n")
    assert source_digest(str(code)) != before
