"""Registries of DoF profiles and object classes; per-DoF values as mappings."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine.config import ConfigError
from tacrefine.dofs import DOF_PROFILES, dof_mask, per_dof, profile_dofs, to_si, union
from tacrefine.registry import Registry
from tacrefine.sim.object_classes import OBJECT_CLASSES, class_dofs, register_object_class
from tacrefine.sim.objects import OBJECTS, ObjectSpec, ShapePart, object_from_dict


def test_paper_classes_carry_their_refined_dofs():
    assert class_dofs("rod") == ("z", "roll")
    assert class_dofs("plate") == ("z", "roll", "pitch")
    assert class_dofs("disc") == ("y", "z", "pitch")
    assert union(class_dofs(c) for c in ("rod", "plate", "disc")) == DOF_PROFILES.get("hand").dofs
    # today's jaw objects keep the jaw task's DoF
    assert OBJECTS["rod_r4"].dofs == ("y", "z", "roll") and OBJECTS["t_shape"].dofs == ("y", "z", "roll")


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="category.*'cone'.*allowed.*rod"):
        ObjectSpec("x", "cone", (ShapePart("sphere", (5.0,)),))
    with pytest.raises(ConfigError, match="refined_dofs.*'spin'.*known"):
        profile_dofs("spin")
    reg: Registry[int] = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a", 2)
    assert reg.register("a", 2, replace=True) == 2 and reg.get("a") == 2


def test_registered_class_decides_an_objects_dofs_unless_the_object_says():
    if "cone_test" not in OBJECT_CLASSES:
        register_object_class("cone_test", ("z", "pitch"), "a test class")
    part = (ShapePart("sphere", (5.0,)),)
    assert ObjectSpec("c1", "cone_test", part).dofs == ("z", "pitch")
    assert ObjectSpec("c2", "cone_test", part, refined_dofs=("roll", "y")).dofs == ("y", "roll")
    with pytest.raises(ValueError, match="refined_dofs"):
        ObjectSpec("c3", "cone_test", part, refined_dofs=("spin",))


def test_user_object_mapping_takes_refined_dofs(tmp_path):
    urdf = tmp_path / "p.urdf"
    urdf.write_text("<robot name='p'><link name='b'><inertial><mass value='0.05'/><inertia ixx='1e-5' ixy='0' "
                    "ixz='0' iyy='1e-5' iyz='0' izz='1e-5'/></inertial><collision><origin xyz='0 0 0.01'/>"
                    "<geometry><box size='0.02 0.02 0.02'/></geometry></collision></link></robot>")
    spec = object_from_dict({"name": "mine", "urdf": str(urdf), "category": "plate"})
    assert spec.dofs == ("z", "roll", "pitch")
    spec = object_from_dict({"name": "mine", "urdf": str(urdf), "refined_dofs": ["z"]})
    assert spec.category == "custom" and spec.dofs == ("z",)


def test_per_dof_values_are_one_validated_mapping():
    out = per_dof({"pitch": 7}, ("pitch", "y"), "offset_range", {"y": 5.0})
    assert out == {"y": 5.0, "pitch": 7.0} and list(out) == ["y", "pitch"]
    with pytest.raises(ValueError, match="offset_range.*keys among"):
        per_dof({"spin": 1}, ("y",), "offset_range", {"y": 5.0})
    with pytest.raises(ValueError, match="max_step.y"):
        per_dof({"y": -1}, ("y",), "max_step")
    with pytest.raises(ValueError, match="max_step.z: missing"):
        per_dof({"y": 1}, ("y", "z"), "max_step")
    assert np.allclose(to_si({"y": 2.0, "pitch": 180.0}), [0, 0.002, 0, 0, np.pi, 0])
    assert dof_mask(("z", "roll"), ("y", "z", "roll", "pitch")).tolist() == [0, 1, 1, 0]
