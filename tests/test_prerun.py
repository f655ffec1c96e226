"""The baselines' benchmark episodes played in the background (while the main job trains) are
the very jobs the benchmark then takes from its journal: same records, nothing played twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import tacrefine.evaluation.jobs as jobs_module
from tacrefine.evaluation.protocol import EvalConfig
from tacrefine.evaluation.runner import JOURNAL_DIR, run_evaluation
from tacrefine.pipelines.prerun import BaselinePrerun

TIMING = ("seconds", "decision_ms")


@dataclass(frozen=True)
class TinyProtocol:
    """Stands in for the precision protocol: one jaw part, 4 episodes (picklable for spawn)."""

    baselines: tuple[str, ...] = ("baseline:noop", "baseline:random")

    def eval_config(self, suite: str, *, episodes_per_object=None, progress=True, plots=True, parts_folder=None):
        return EvalConfig(objects=("wedge",), episodes_per_object=4, max_steps=2, target_modes=("fixed",),
                          panel_episodes=1, render=False, progress=progress, plots=plots)


@pytest.fixture(autouse=True)
def importable_tests(monkeypatch):
    """The spawned process unpickles TinyProtocol from this module (``tests.test_prerun`` under
    pytest's importlib mode): it needs the repository root on its path (a spawned process takes
    its parent's ``sys.path``)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))


def _episodes(out) -> list[dict]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in e.items() if k not in TIMING} for e in report["episodes"]]


def test_background_baselines_are_taken_from_the_journal_and_equal_a_straight_run(tmp_path, monkeypatch):
    protocol = TinyProtocol()
    prerun = BaselinePrerun(protocol, ["jaw"], tmp_path / "bench").start()
    prerun.process.join(300)
    assert prerun.stop() == "finished"
    journal = tmp_path / "bench" / "jaw" / "clean" / JOURNAL_DIR
    assert list(journal.glob("job-*.json")) and not list(journal.glob("*.tmp*"))

    played = []
    real = jobs_module.run_episodes
    monkeypatch.setattr(jobs_module, "run_episodes", lambda c, j, r=None: played.append(j.spec) or real(c, j, r))
    cfg = protocol.eval_config("jaw", progress=False)
    run_evaluation(cfg, ["baseline:oracle", *protocol.baselines], tmp_path / "bench" / "jaw" / "clean")
    assert set(played) == {"baseline:oracle"}  # the baselines came from the background run
    played.clear()
    run_evaluation(cfg, ["baseline:oracle", *protocol.baselines], tmp_path / "straight")
    assert set(played) == {"baseline:oracle", *protocol.baselines}
    assert _episodes(tmp_path / "bench" / "jaw" / "clean") == _episodes(tmp_path / "straight")


def test_stopping_the_background_run_midway_is_harmless(tmp_path):
    prerun = BaselinePrerun(TinyProtocol(), ["jaw"], tmp_path).start()
    assert prerun.stop(timeout=30) in ("stopped", "finished")  # not "failed": it could start
    assert prerun.process is None and prerun.stop() == "not started"
    assert not list(tmp_path.rglob("*.tmp*"))
    assert BaselinePrerun(TinyProtocol(baselines=()), ["jaw"], tmp_path).start().stop() == "not started"
