"""The part measurement cache: a part by path is measured once per user, a changed file or a
damaged entry is measured again, and what the user is told does not depend on the cache."""

from __future__ import annotations

import logging

import pytest

from tacrefine.sim import measure_cache, object_lists, user_parts
from tacrefine.sim.objects import get_object
from tacrefine.sim.urdf_export import export_urdf


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """A private cache folder and a count of real measurements."""
    monkeypatch.setenv("TACREFINE_CACHE_DIR", str(tmp_path / "cache"))
    object_lists._resolve.cache_clear()
    calls = []
    real = user_parts.measure

    def measure(spec, grasp_height_mm=None):
        calls.append(spec.name)
        return real(spec, grasp_height_mm=grasp_height_mm)

    monkeypatch.setattr(user_parts, "measure", measure)
    yield calls
    object_lists._resolve.cache_clear()


def _resolve(path, name="by_path"):
    object_lists._resolve.cache_clear()  # a new process: only the disk remembers
    return user_parts.resolve_user_part({"name": name, "urdf": str(path)})


def test_a_part_is_measured_once_and_read_back_identical(counted, tmp_path):
    path = export_urdf(get_object("plate_t4_w60"), tmp_path / "a")
    first = _resolve(path)
    again = _resolve(path, name="same_file_other_name")
    copy = export_urdf(get_object("plate_t4_w60"), tmp_path / "b")  # same bytes, other folder
    third = _resolve(copy)
    assert counted == ["by_path"]
    for spec in (again, third):
        assert (spec.frame_in_file, spec.grasp_height_mm, spec.thickness_mm, spec.category, spec.dofs) == (
            first.frame_in_file, first.grasp_height_mm, first.thickness_mm, first.category, first.dofs)
    assert len(list((tmp_path / "cache" / "measured").glob("*.json"))) == 1


def test_a_changed_file_is_measured_again(counted, tmp_path):
    path = export_urdf(get_object("disc_d40_t4"), tmp_path)
    disc = _resolve(path)
    path.write_text(export_urdf(get_object("rod_d10_l110"), tmp_path / "rod").read_text())
    rod = _resolve(path)
    assert counted == ["by_path", "by_path"]
    assert (disc.category, rod.category) == ("disc", "rod")


def test_a_damaged_entry_is_never_used(counted, tmp_path, caplog):
    path = export_urdf(get_object("rod_d10_l110"), tmp_path)
    good = _resolve(path)
    (entry,) = (tmp_path / "cache" / "measured").glob("*.json")
    entry.write_text('{"key": "x", "fields": {"category": 3}}')
    with caplog.at_level(logging.WARNING, logger="tacrefine.sim.measure_cache"):
        again = _resolve(path)
    assert counted == ["by_path", "by_path"]
    assert any("damaged or stale" in r.getMessage() for r in caplog.records)
    assert again.frame_in_file == good.frame_in_file and again.dofs == good.dofs
    assert '"key": "x"' not in entry.read_text()  # replaced by the new measurement


def test_an_unclear_class_is_said_from_the_cache_too(counted, tmp_path, caplog):
    from tacrefine.sim.unseen_testonly import unseen_part

    path = export_urdf(unseen_part("hand", "star_rod", 0), tmp_path)
    messages = []
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tacrefine.sim.touch_class"):
            _resolve(path)
        messages.append([r.getMessage() for r in caplog.records if "class unclear" in r.getMessage()])
    assert len(counted) == 1
    assert messages[0] and messages[0] == messages[1]


def test_the_key_follows_the_simulator_source(tmp_path, monkeypatch):
    spec = user_parts.ObjectSpec(name="p", category="custom", urdf=str(export_urdf(get_object("rod_d10_l110"),
                                                                                  tmp_path)))
    before = measure_cache.part_key(spec, None)
    monkeypatch.setattr(measure_cache, "_code_digest", lambda: "another version of the code")
    assert measure_cache.part_key(spec, None) != before
    assert measure_cache.part_key(spec, 30.0) != measure_cache.part_key(spec, None)
