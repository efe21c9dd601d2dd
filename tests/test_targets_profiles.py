"""Target profiles: every shipped one validates; malformed ones fail with a clear one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnport.errors import UnsupportedTargetError
from nnport.targets import (
    GraphRules,
    OpRule,
    Source,
    TargetProfile,
    VersionRange,
    dump_profile,
    list_targets,
    load_target,
    read_profile,
)
from nnport.targets.registry import shipped_names

REQUIRED = {"onnxruntime", "tensorrt", "ascend310", "ascend310p", "nnie"}

GOOD = """
name = "mini"
description = "a test target"
date = 2026-11-28

[source]
document = "my notes"
version = "1"

[opsets]
"ai.onnx" = "9-13"

[graph]
input_dtypes = ["float32"]
static_shapes = true

[[ops]]
op = "Cast"
versions = ["9+"]
output_dtypes = ["float32", "int32"]

[[ops]]
op = "Tile"
constant_inputs = [1]
[ops.input_dtypes]
1 = ["int64"]
"""


def test_every_shipped_profile_loads() -> None:
    names = set(shipped_names())
    assert names >= REQUIRED
    infos = {info.name: info for info in list_targets()}
    assert set(infos) == names
    for name in names:
        profile = load_target(name)
        assert profile.name == name
        assert profile.date and profile.source.text()
        assert profile.ops, name


def test_facts_recorded_in_profiles() -> None:
    ascend = load_target("ascend310")
    assert ascend.opsets["ai.onnx"] == VersionRange(9, 13)
    assert ascend.graph.static_shapes and set(ascend.graph.input_dtypes) == {
        "float32",
        "float16",
        "uint8",
    }
    (cast,) = ascend.rules_for("Cast", "")
    assert "int64" not in cast.output_dtypes["0"] and "float64" not in cast.output_dtypes["0"]
    (tile,) = ascend.rules_for("Tile", "ai.onnx")
    assert tile.constant_inputs == (1,)
    nnie = load_target("nnie")
    for op in ("Tile", "Expand", "Gather", "GatherElements", "Cast", "Shape", "LpNormalization"):
        assert not nnie.rules_for(op, ""), op
    assert nnie.graph.max_rank == 4
    ort = load_target("onnxruntime")
    assert len(ort.op_names()) > 150 and ort.expands_functions
    assert "LayerNormalization" in load_target("ascend310p").op_names()
    assert "LayerNormalization" not in ascend.op_names()


def test_load_by_path_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text(GOOD)
    profile = load_target(str(path))
    assert profile.name == "mini" and profile.date == "2026-11-28"
    (tile,) = profile.rules_for("Tile", "")
    assert tile.input_dtypes == {"1": ("int64",)}
    copy = dump_profile(profile, tmp_path / "copy.toml", header="regenerate me")
    again = read_profile(copy)
    assert again.ops == profile.ops and again.graph == profile.graph
    assert copy.read_text().startswith("# regenerate me")


def test_dump_profile_builds_from_data(tmp_path: Path) -> None:
    profile = TargetProfile(
        name="probed",
        description="from data",
        date="2026-11-28",
        source=Source(probe="nnport targets probe --backend x"),
        opsets={"ai.onnx": VersionRange(7, None)},
        graph=GraphRules(int64="native"),
        ops=(OpRule("Relu", versions=(VersionRange(6, 13), VersionRange(14, None))),),
    )
    written = read_profile(dump_profile(profile, tmp_path / "p.toml"))
    assert written.ops[0].versions_text() == "6-13, 14+"
    assert 15 in written.ops[0].versions[1]


def test_forbidden_combinations_round_trip(tmp_path: Path) -> None:
    combination = (("coordinate_transformation_mode", "asymmetric"), ("mode", "cubic"))
    rule = OpRule("Resize", forbidden_combinations=(combination,))
    profile = TargetProfile(
        name="combos", description="d", date="2026-11-28", source=Source(probe="p"),
        opsets={"ai.onnx": VersionRange(11, None)}, graph=GraphRules(), ops=(rule,),
    )  # fmt: skip
    written = read_profile(dump_profile(profile, tmp_path / "p.toml"))
    assert written.ops[0].forbidden_combinations == (combination,)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('versions = ["9+"]', 'versions = ["nine"]'), "is not a version range"),
        (('output_dtypes = ["float32"', 'output_dtypes = ["float33"'), "unknown dtype"),
        (("constant_inputs = [1]", "constant_inputz = [1]"), "unknown key 'constant_inputz'"),
        (('document = "my notes"\nversion = "1"', ""), "[source] needs"),
        (("static_shapes = true", 'static_shapes = "yes"'), "true or false"),
        (("static_shapes = true", 'static_shapes = true\ndefects = ["slow"]'), "'defects' must"),
        (('name = "mini"', 'name = "Mini Target"'), "must be lowercase"),
        (('[opsets]\n"ai.onnx" = "9-13"', ""), "missing [opsets]"),
        (("date = 2026-11-28", "date = [1"), "not TOML"),
        (
            (
                "constant_inputs = [1]",
                'constant_inputs = [1]\nforbidden_combinations = [{mode = "x"}]',
            ),
            "'forbidden_combinations' must",
        ),
    ],
)
def test_malformed_profiles_are_refused(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in GOOD
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(UnsupportedTargetError) as info:
        load_target(str(path))
    message = info.value.one_line()
    assert expected in message and "bad.toml" in message
    assert "\n" not in message


def test_unknown_target_lists_known_ones() -> None:
    with pytest.raises(UnsupportedTargetError) as info:
        load_target("ascend999")
    assert "ascend310" in str(info.value) and "nnie" in str(info.value)
    with pytest.raises(UnsupportedTargetError, match="no such target profile file"):
        load_target("/nonexistent/profile.toml")


def test_onnxruntime_profile_matches_the_kernel_registry() -> None:
    from onnxruntime.capi import _pybind_state as ort_c

    profile = load_target("onnxruntime")
    kernels = {
        (k.domain or "ai.onnx", k.op_name)
        for k in ort_c.get_all_opkernel_def()
        if k.provider == "CPUExecutionProvider" and k.domain != "com.microsoft.nchwc"
    }
    listed = {(r.domain, r.op) for r in profile.ops}
    assert kernels <= listed
