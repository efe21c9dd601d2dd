"""A small anchor-free YOLO-style detector (one stride-8 grid head, FCOS-style targets) written
for nnport: build, train on a YOLO-txt dataset, decode boxes in the graph, optional NMS."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnport.data.detection import DetectionSet, read_rgb, read_yolo
from nnport.errors import DatasetError
from nnport.model.preprocess import PreprocessSpec
from nnport.recipes.checkpoint import CheckpointInfo, save_checkpoint
from nnport.recipes.torchutil import require_torch, seed_everything, torch_threads
from nnport.recipes.training import EpochStats, Progress, TrainResult
from nnport.verify.detect_eval import coco_map
from nnport.verify.detections import (
    DETECT_META_KEY,
    DetectionLayout,
    DetectionOptions,
    Dets,
    layout_metadata,
    postprocess,
)

logger = logging.getLogger(__name__)

ARCHITECTURE = "shapes_detector"
STRIDE = 8
DEFAULT_PREPROCESS = "rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw,float32"


@dataclass(frozen=True)
class DetectorConfig:
    """Training settings; ``threads`` None keeps torch's choice."""

    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-3
    width: int = 16
    seed: int = 0
    threads: int | None = None
    limit: int | None = None
    eval_each_epoch: bool = False
    preprocess: str = DEFAULT_PREPROCESS


def build_detector(
    num_classes: int = 3, width: int = 16, preprocess: str = DEFAULT_PREPROCESS
) -> Any:
    """The network: raw head [B, 4 + classes, H/8, W/8] (ltrb log-distances, class logits)."""
    nn = require_torch().nn

    def conv(cin: int, cout: int, stride: int = 1) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    class ShapesDetector(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.num_classes = num_classes
            self.preprocess = preprocess
            self.stem = nn.Sequential(
                conv(3, w // 2, 2), conv(w // 2, w, 2), conv(w, w), conv(w, 2 * w, 2)
            )
            self.mid = nn.Sequential(conv(2 * w, 2 * w), conv(2 * w, 2 * w))
            self.deep = nn.Sequential(conv(2 * w, 3 * w, 2), conv(3 * w, 3 * w))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fuse = conv(5 * w, 2 * w)
            self.head = nn.Conv2d(2 * w, 4 + num_classes, 1)
            prior = -float(np.log((1 - 0.01) / 0.01))  # start from 1% scores (focal-loss prior)
            with require_torch().no_grad():
                self.head.bias[4:] = prior
                self.head.bias[:4] = float(np.log(2.0))

        def forward(self, x: Any) -> Any:
            f = self.mid(self.stem(x))
            d = self.up(self.deep(f))
            return self.head(self.fuse(require_torch().cat([f, d], 1)))

    return ShapesDetector()


def _grid(height: int, width: int) -> np.ndarray:
    """Cell centres (H*W, 2) as x, y in input pixels."""
    ys, xs = np.mgrid[0:height, 0:width]
    return ((np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * STRIDE).astype(np.float32)


def decode_raw(raw: Any, centres: Any = None) -> tuple[Any, Any]:
    """Raw head [B, 4+C, H, W] -> boxes [B, H*W, 4] (xyxy input pixels), scores [B, H*W, C]."""
    torch = require_torch()
    b, ch, h, w = raw.shape
    flat = raw.reshape(b, ch, h * w).permute(0, 2, 1)
    if centres is None:
        centres = torch.from_numpy(_grid(int(h), int(w)))
    dist = torch.exp(flat[..., :4].clamp(max=6.0)) * STRIDE
    boxes = torch.cat([centres - dist[..., :2], centres + dist[..., 2:]], dim=-1)
    return boxes, torch.sigmoid(flat[..., 4:])


def for_export(model: Any, *, nms: bool = False, options: DetectionOptions | None = None) -> Any:
    """The module ``nnport export`` takes: boxes decoded in the graph; with ``nms`` the graph
    ends in ONNX NonMaxSuppression (appended to the traced graph; torch's side runs
    torchvision's batched_nms, the reference it is verified against)."""
    torch = require_torch()
    opts = options or DetectionOptions()
    spec = PreprocessSpec.parse(model.preprocess)
    size = spec.size or (160, 160)
    grid = torch.from_numpy(_grid(size[0] // STRIDE, size[1] // STRIDE))

    class Decoded(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            self.register_buffer("centres", grid)
            self.output_names = ["boxes", "scores"]

        def forward(self, x: Any) -> Any:
            return decode_raw(self.net(x), self.centres)

    decoded = Decoded().eval()
    layout = DetectionLayout("pre", boxes="boxes", scores="scores")
    decoded.onnx_metadata = {
        DETECT_META_KEY: layout_metadata(layout),
        "nnport.preprocess": spec.format(),
    }
    if not nms:
        return decoded

    class WithNms(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.traced = decoded
            self.output_names = ["detections"]
            self.onnx_metadata = {
                DETECT_META_KEY: layout_metadata(DetectionLayout("post", rows="detections")),
                "nnport.preprocess": spec.format(),
            }

        def onnx_tail(self, path: Path) -> None:
            append_nms(path, opts)

        def forward(self, x: Any) -> Any:
            from torchvision.ops import batched_nms

            boxes, scores = decoded(x)
            cand, cls = torch.nonzero(scores[0] > opts.score_threshold, as_tuple=True)
            b, s = boxes[0][cand], scores[0][cand, cls]
            kept = batched_nms(b, s, cls, opts.nms_iou)[: opts.max_detections]
            return torch.cat([b[kept], s[kept, None], cls[kept, None].to(b.dtype)], dim=1)

    return WithNms().eval()


def append_nms(path: Path, options: DetectionOptions) -> None:
    """Rewrite the exported file so boxes [1,N,4] + scores [1,N,C] end in class-aware ONNX
    NonMaxSuppression, giving rows [K,6] (x1, y1, x2, y2, score, class) by falling score.

    The tail is its own small graph joined with onnx.compose.merge_models."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    head = onnx.load(str(path))
    consts = [
        numpy_helper.from_array(np.array([options.max_detections], np.int64), "nms_max"),
        numpy_helper.from_array(np.array([options.nms_iou], np.float32), "nms_iou"),
        numpy_helper.from_array(np.array([options.score_threshold], np.float32), "nms_thr"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array(2, np.int64), "two"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([3], np.int64), "three"),
    ]
    node = helper.make_node
    nodes = [
        node("Transpose", ["scores"], ["nms_st"], perm=[0, 2, 1]),
        node("NonMaxSuppression", ["boxes", "nms_st", "nms_max", "nms_iou", "nms_thr"], ["sel"]),
        node("Gather", ["sel", "one"], ["sel_cls"], axis=1),
        node("Gather", ["sel", "two"], ["sel_box"], axis=1),
        node("Squeeze", ["boxes", "axis0"], ["b0"]),
        node("Squeeze", ["nms_st", "axis0"], ["s0"]),
        node("Gather", ["b0", "sel_box"], ["kb"], axis=0),
        node("Slice", ["sel", "axis1", "three", "axis1"], ["cls_box"]),
        node("GatherND", ["s0", "cls_box"], ["ks"]),
        node("Cast", ["sel_cls"], ["kc"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["ks", "axis1"], ["ks1"]),
        node("Unsqueeze", ["kc", "axis1"], ["kc1"]),
        node("Concat", ["kb", "ks1", "kc1"], ["rows"], axis=1),
        node("Shape", ["ks"], ["k"]),
        node("Min", ["k", "nms_max"], ["k_top"]),
        node("TopK", ["ks", "k_top"], ["top_scores", "order"], axis=0, largest=1, sorted=1),
        node("Gather", ["rows", "order"], ["detections"], axis=0),
    ]
    for index, item in enumerate(nodes):  # named, so reports and the host split can say which
        item.name = f"nms/{item.op_type}_{index}"
    shapes = {v.name: v for v in head.graph.output}
    tail_graph = helper.make_graph(
        nodes,
        "nms",
        [shapes["boxes"], shapes["scores"]],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["K", 6])],
        initializer=consts,
    )
    tail = helper.make_model(tail_graph, opset_imports=list(head.opset_import))
    tail.ir_version = head.ir_version
    merged = compose.merge_models(head, tail, io_map=[("boxes", "boxes"), ("scores", "scores")])
    merged.metadata_props.extend(head.metadata_props)
    onnx.save(merged, str(path))


# ---- data -----------------------------------------------------------------------------------
def load_split(data: DetectionSet, spec: PreprocessSpec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images as uint8 NHWC in the model's input size, and per-image [K, 5] (class, xyxy)."""
    images = []
    targets = []
    for item in data.items:
        image = read_rgb(item.path)
        pixel_spec = dataclasses.replace(spec, dtype="uint8", layout="nhwc", channels="rgb")
        tensor, geo = pixel_spec.apply(image)
        images.append(tensor[0])
        boxes = item.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]] * geo.ratio_x + geo.pad_x
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * geo.ratio_y + geo.pad_y
        targets.append(np.concatenate([item.classes[:, None].astype(np.float32), boxes], 1))
    return np.stack(images), targets


def assign(target: np.ndarray, grid: np.ndarray, num_classes: int) -> np.ndarray:
    """Per cell: [positive, class one-hot..., x1, y1, x2, y2]; a cell is positive for the
    smallest box holding its centre within 1.5 cells of the box centre."""
    cells = len(grid)
    out = np.zeros((cells, 1 + num_classes + 4), np.float32)
    if len(target) == 0:
        return out
    boxes = target[:, 1:]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    gx, gy = grid[:, 0:1], grid[:, 1:2]
    inside = (gx > boxes[:, 0]) & (gx < boxes[:, 2]) & (gy > boxes[:, 1]) & (gy < boxes[:, 3])
    radius = 1.5 * STRIDE
    near = (np.abs(gx - cx) <= radius) & (np.abs(gy - cy) <= radius)
    centre_cell = np.argmin((gx - cx) ** 2 + (gy - cy) ** 2, axis=0)
    ok = inside & near
    ok[centre_cell, np.arange(len(boxes))] = True  # tiny objects keep their centre cell
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cost = np.where(ok, area[None, :], np.inf)
    best = np.argmin(cost, axis=1)
    pos = np.isfinite(cost[np.arange(cells), best])
    out[pos, 0] = 1.0
    out[pos, 1 + target[best[pos], 0].astype(np.int64)] = 1.0
    out[pos, 1 + num_classes :] = boxes[best[pos]]
    return out


def _targets(targets: list[np.ndarray], size: tuple[int, int], num_classes: int) -> np.ndarray:
    grid = _grid(size[0] // STRIDE, size[1] // STRIDE)
    return np.stack([assign(t, grid, num_classes) for t in targets])


def _flip_targets(targets: list[np.ndarray], width: int) -> list[np.ndarray]:
    flipped = []
    for t in targets:
        f = t.copy()
        f[:, 1], f[:, 3] = width - t[:, 3], width - t[:, 1]
        flipped.append(f)
    return flipped


def _loss(raw: Any, target: Any, num_classes: int) -> Any:
    """Sigmoid focal loss on the class logits + GIoU on the positives' boxes."""
    torch = require_torch()
    boxes, _ = decode_raw(raw)
    b, ch, h, w = raw.shape
    logits = raw.reshape(b, ch, h * w).permute(0, 2, 1)[..., 4:]
    pos = target[..., 0] > 0
    num_pos = max(1.0, float(pos.sum()))
    cls_t = target[..., 1 : 1 + num_classes]
    p = torch.sigmoid(logits)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, cls_t, reduction="none")
    p_t = p * cls_t + (1 - p) * (1 - cls_t)
    alpha = 0.25 * cls_t + 0.75 * (1 - cls_t)
    focal = (alpha * (1 - p_t) ** 2 * ce).sum() / num_pos
    if not bool(pos.any()):
        return focal
    from torchvision.ops import generalized_box_iou_loss

    giou = generalized_box_iou_loss(boxes[pos], target[..., 1 + num_classes :][pos], "mean")
    return focal + 2.0 * giou


def predict(
    model: Any, images: np.ndarray, spec: PreprocessSpec, options: DetectionOptions, batch: int = 64
) -> list[Dets]:
    """Detections in model-input pixels for uint8 NHWC RGB images already at the input size."""
    torch = require_torch()
    model.eval()
    out: list[Dets] = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            chunk = np.stack(
                [spec.normalize(img.astype(np.float32)) for img in images[start : start + batch]]
            )
            boxes, scores = decode_raw(model(torch.from_numpy(chunk)))
            for i in range(len(chunk)):
                out.append(postprocess(boxes[i].numpy(), scores[i].numpy(), options))
    return out


def evaluate_map(
    model: Any, images: np.ndarray, targets: list[np.ndarray], spec: PreprocessSpec,
    num_classes: int,
) -> tuple[float, float]:  # fmt: skip
    """(mAP@0.5, mAP@0.5:0.95) on already-loaded images (low threshold, as COCO scores it)."""
    from nnport.data.detection import LabelledImage

    options = DetectionOptions(score_threshold=0.01)
    dets = predict(model, images, spec, options)
    truth = [
        LabelledImage("", images.shape[2], images.shape[1], t[:, 1:], t[:, 0].astype(np.int64))
        for t in targets
    ]
    return coco_map(truth, dets, num_classes)


def train_detector(
    data: str | Path, config: DetectorConfig, progress: Progress | None = None
) -> tuple[Any, CheckpointInfo, TrainResult]:
    """Train on ``data/train`` (YOLO txt), score mAP on ``data/val``; returns model, info, result."""
    torch = require_torch()
    root = Path(data)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise DatasetError(
            f"{root} needs train/ and val/ folders",
            hint="make one with `nnport data shapes -o DIR`",
        )
    spec = PreprocessSpec.parse(config.preprocess)
    if spec.size is None or spec.size[0] % STRIDE or spec.size[1] % STRIDE:
        raise DatasetError(f"the preprocess spec needs a size divisible by {STRIDE}")
    train_set, val_set = read_yolo(root / "train"), read_yolo(root / "val")
    if config.limit:
        train_set = dataclasses.replace(train_set, items=train_set.items[: config.limit])
        val_set = dataclasses.replace(val_set, items=val_set.items[: max(10, config.limit // 5)])
    classes = train_set.classes
    num_classes = len(classes)
    start, start_cpu = time.perf_counter(), time.process_time()
    x_train, t_train = load_split(train_set, spec)
    x_val, t_val = load_split(val_set, spec)
    size = spec.size
    y_plain = torch.from_numpy(_targets(t_train, size, num_classes))
    y_flip = torch.from_numpy(_targets(_flip_targets(t_train, size[1]), size, num_classes))
    history: list[EpochStats] = []
    with torch_threads(config.threads):
        generator = seed_everything(config.seed)
        model = build_detector(num_classes, config.width, spec.format())
        steps_per_epoch = -(-len(x_train) // config.batch_size)
        total = steps_per_epoch * config.epochs
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, config.lr, total_steps=total, pct_start=0.15
        )
        normalized = torch.from_numpy(
            np.stack([spec.normalize(img.astype(np.float32)) for img in x_train])
        )
        step = 0
        held: float | None = None
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            flips = torch.rand(len(x_train), generator=generator) < 0.5
            loss_sum = 0.0
            seen = 0
            for s in range(steps_per_epoch):
                idx = order[s * config.batch_size : (s + 1) * config.batch_size]
                flip = flips[idx]
                x = normalized[idx].clone()
                x[flip] = x[flip].flip(-1)
                y = torch.where(flip[:, None, None], y_flip[idx], y_plain[idx])
                loss = _loss(model(x), y, num_classes)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
                if progress is not None and (step % 5 == 0 or step == total):
                    progress(step, total, epoch, loss_sum / seen, 0.0, held)
            if config.eval_each_epoch or epoch == config.epochs:
                map50, map5095 = evaluate_map(model, x_val, t_val, spec, num_classes)
                held = map50
            history.append(
                EpochStats(epoch, loss_sum / max(1, seen), 0.0, held if held is not None else 0.0,
                           time.perf_counter() - start)
            )  # fmt: skip
            if progress is not None:
                progress(step, total, epoch, loss_sum / max(1, seen), 0.0, held)
        threads = int(torch.get_num_threads())
    model.eval()
    info = CheckpointInfo(
        architecture=ARCHITECTURE,
        arch_kwargs={
            "num_classes": num_classes,
            "width": config.width,
            "preprocess": spec.format(),
        },
        input_shape=(1, 3, size[0], size[1]),
        mean=tuple(spec.mean),
        std=tuple(spec.std),
        classes=classes,
        metrics={"map50": map50, "map50_95": map5095},
    )
    result = TrainResult(
        recipe="detector (shapes, anchor-free stride-8 grid)",
        epochs=tuple(history),
        train_samples=len(x_train),
        test_samples=len(x_val),
        test_accuracy=map50,
        seconds=time.perf_counter() - start,
        threads=threads,
        cpu_seconds=time.process_time() - start_cpu,
        settings={**dataclasses.asdict(config), "map50_95": map5095, "metric": "mAP@0.5"},
    )
    logger.info("detector: mAP@0.5 %.4f, mAP@0.5:0.95 %.4f", map50, map5095)
    return model, info, result


def save_detector(
    model: Any, info: CheckpointInfo, result: TrainResult, path: str | Path
) -> TrainResult:
    """Write the detector checkpoint; return ``result`` naming it."""
    save_checkpoint(model, path, info)
    return dataclasses.replace(result, checkpoint=str(path))


def describe(info: CheckpointInfo) -> str:
    """One line for logs: classes and metrics."""
    return json.dumps({"classes": list(info.classes), **info.metrics})
