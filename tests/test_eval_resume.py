"""An interrupted evaluation resumes: finished jobs are taken from the journal, only the rest runs."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sys

import pytest

import tacrefine.evaluation.jobs as jobs_module
from tacrefine.evaluation.episodes.journal import Journal
from tacrefine.evaluation.protocol import EvalConfig
from tacrefine.evaluation.runner import JOURNAL_DIR, run_evaluation
from tacrefine.parallel import TaskError

TIMING = ("seconds", "decision_ms")


def _episodes(out) -> list[dict]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in e.items() if k not in TIMING} for e in report["episodes"]]


def test_an_interrupted_evaluation_resumes_with_only_the_unfinished_jobs(tmp_path, monkeypatch):
    cfg = EvalConfig(objects=("wedge", "rod_r4"), episodes_per_object=4, max_steps=2, target_modes=("fixed",),
                     panel_episodes=1, render=False, progress=False)
    specs = ["baseline:noop", "baseline:random"]
    run_evaluation(cfg, specs, tmp_path / "straight")
    real = jobs_module.run_episodes
    played: list[tuple] = []
    jobs_seen: list = []

    def power_cut_at_the_fifth_job(cfg_, job, report=None):
        if len(played) == 4:  # 2 policies x 4 jobs of 2 episodes
            raise RuntimeError("power cut")
        played.append((job.spec, job.items))
        jobs_seen.append(job)
        return real(cfg_, job, report)

    monkeypatch.setattr(jobs_module, "run_episodes", power_cut_at_the_fifth_job)
    out = tmp_path / "resumed"
    with pytest.raises(TaskError, match="power cut"):
        run_evaluation(cfg, specs, out)
    assert len(list((out / JOURNAL_DIR).glob("job-*.json"))) == 4
    book = Journal(out / JOURNAL_DIR, cfg)
    book._paths(book.key(jobs_seen[1]))[1].write_bytes(b"damaged")  # a damaged job is played again
    first = list(played)
    played.clear()
    monkeypatch.setattr(jobs_module, "run_episodes", lambda c, j, r=None: played.append((j.spec, j.items))
                        or real(c, j, r))
    run_evaluation(cfg, specs, out)
    assert first[1] in played and not set(first[:1] + first[2:]) & set(played)
    assert len(played) == 8 - 3  # 3 taken from the journal
    assert _episodes(out) == _episodes(tmp_path / "straight")
    played.clear()
    run_evaluation(cfg, specs, out)  # complete: nothing to play
    assert played == []
    run_evaluation(dataclasses.replace(cfg, max_steps=3), specs, out)  # another config: all played
    assert len(played) == 8


def test_a_failure_while_recording_a_job_stops_the_pool_at_once(tmp_path, monkeypatch):
    from tacrefine.evaluation import journal

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(journal.Journal, "save", disk_full)
    cfg = EvalConfig(objects=("wedge",), episodes_per_object=4, max_steps=2, target_modes=("fixed",),
                     panel_episodes=1, render=False, progress=False)
    before = sys.getswitchinterval()
    with pytest.raises(OSError, match="disk full") as caught:  # keeps the frame (and its generator) alive
        run_evaluation(cfg, ["baseline:noop"], tmp_path / "out", workers=2)
    assert caught.value is not None
    assert sys.getswitchinterval() == before
    assert multiprocessing.active_children() == []
