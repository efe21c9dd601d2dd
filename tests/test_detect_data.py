"""The shapes dataset: deterministic pixels and labels, YOLO txt and COCO JSON that agree, and
the `nnport data shapes` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnport.cli.app import run
from nnport.data.detection import read_coco, read_detections, read_yolo
from nnport.data.shapes import CLASSES, ShapesConfig, generate_shapes, render_sample
from nnport.errors import DatasetError

pytest.importorskip("PIL")


def test_render_is_deterministic_and_labels_fit_the_shapes() -> None:
    config = ShapesConfig(images=4, size=96, seed=3)
    a, b = render_sample(config, "train", 2), render_sample(config, "train", 2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    other = render_sample(ShapesConfig(images=4, size=96, seed=4), "train", 2)
    assert not np.array_equal(a.image, other.image)
    assert 1 <= len(a.boxes) <= 4 and a.image.shape == (96, 96, 3)
    assert (a.boxes[:, 2] > a.boxes[:, 0]).all() and (a.boxes[:, 3] <= 96).all()
    sizes = set()
    for i in range(20):
        s = render_sample(config, "val", i)
        sizes |= {int(w) for w in s.boxes[:, 2] - s.boxes[:, 0]}
        assert set(s.classes.tolist()) <= {0, 1, 2}
    assert max(sizes) - min(sizes) >= 20  # several sizes


def test_generate_writes_both_label_formats(tmp_path: Path) -> None:
    out = tmp_path / "shapes"
    result = generate_shapes(out, ShapesConfig(images=12, size=64, seed=1, max_side=30))
    assert result.images == {"train": 12, "val": 10}
    assert (out / "classes.txt").read_text().split() == list(CLASSES)
    yolo, coco = read_yolo(out / "val"), read_coco(out / "val" / "annotations.json")
    assert len(yolo) == len(coco) == 10 and yolo.classes == coco.classes == CLASSES
    for y, c in zip(yolo.items, coco.items, strict=True):
        assert Path(y.path).name == Path(c.path).name
        assert np.allclose(y.boxes, c.boxes, atol=1e-3) and np.array_equal(y.classes, c.classes)
    assert read_detections(out / "val").labels == "yolo"
    data = json.loads((out / "train" / "annotations.json").read_text())
    assert len(data["annotations"]) == result.objects["train"]


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError):
        generate_shapes(tmp_path / "x", ShapesConfig(images=2, size=64))
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_cli_data_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    code = run(["data", "shapes", "-o", str(out), "--images", "10", "--size", "64", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["images"] == {"train": 10, "val": 10}
    assert run(["data", "shapes", "-o", str(out), "--images", "10"]) == 2  # not empty: refused
