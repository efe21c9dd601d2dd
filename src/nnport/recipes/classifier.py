"""Transfer-learning image classifier: torchvision backbone + GAP + Dense(1024, ReLU) + Dense(classes)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnport.data.imagefolder import load_images, scan_image_folder, split_folder
from nnport.errors import ModelLoadError, UsageError
from nnport.recipes.checkpoint import CheckpointInfo, save_checkpoint
from nnport.recipes.torchutil import (
    require_torch,
    require_torchvision,
    seed_everything,
    torch_threads,
)
from nnport.recipes.training import EpochStats, Progress, TrainResult

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ClassifierConfig:
    """Settings of the transfer-learning recipe (defaults follow the users' Keras flower recipe)."""

    backbone: str = "resnet50"
    weights: str | None = None
    freeze: bool = False
    epochs: int = 10
    batch_size: int = 32
    image_size: int = 224
    lr: float = 1e-3
    hidden: int = 1024
    val_fraction: float = 0.2
    augment: bool = True
    seed: int = 0
    threads: int | None = None


def _features(backbone: str, weights: str | None) -> Any:
    """The backbone's convolutional trunk (no pooling, no classifier), weights loaded if given."""
    torch = require_torch()
    torchvision = require_torchvision()
    try:
        full = torchvision.models.get_model(backbone, weights=None)
    except ValueError as exc:
        names = ", ".join(n for n in torchvision.models.list_models(torchvision.models)[:12])
        raise UsageError(f"unknown backbone {backbone!r}", hint=f"e.g. {names}, ...") from exc
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ModelLoadError(f"no such weights file: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            full.load_state_dict(state)
        except Exception as exc:
            first = " ".join(str(exc).split())[:300]
            raise ModelLoadError(f"{path} is not a {backbone} state_dict: {first}") from exc
    if hasattr(full, "features"):  # mobilenet, efficientnet, convnext, densenet, vgg, ...
        return full.features
    if hasattr(full, "layer4") and hasattr(full, "fc"):  # resnet, resnext, wide_resnet
        children = dict(full.named_children())
        return torch.nn.Sequential(
            *(m for name, m in children.items() if name not in ("avgpool", "fc"))
        )
    if hasattr(full, "trunk_output"):  # regnet
        return torch.nn.Sequential(full.stem, full.trunk_output)
    raise UsageError(
        f"backbone {backbone!r} has no recognisable feature trunk",
        hint="use a resnet, regnet, mobilenet, efficientnet, convnext, densenet or vgg",
    )


def build_classifier(
    backbone: str, num_classes: int, hidden: int = 1024, weights: str | None = None
) -> Any:
    """Sequential(trunk, AdaptiveAvgPool2d(1), Flatten, Linear(C, hidden), ReLU, Linear(classes))."""
    torch = require_torch()
    nn = torch.nn
    trunk = _features(backbone, weights)
    trunk.eval()
    with torch.no_grad():
        channels = int(trunk(torch.zeros(1, 3, 64, 64)).shape[1])
    return nn.Sequential(
        trunk,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(channels, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def _augmenter(image_size: int) -> Any:
    """Keras ImageDataGenerator's rotation 20, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomAffine(degrees=20, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=0.2),
            v2.RandomHorizontalFlip(),
        ]
    )


def normalize(images: np.ndarray | Any, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """uint8 NCHW -> float32 scaled by 1/255 and normalized per channel (torch tensor)."""
    torch = require_torch()
    x = torch.as_tensor(images).float().div_(255.0)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (x - m) / s


def _accuracy(model: Any, images: np.ndarray, labels: np.ndarray, batch: int) -> float:
    torch = require_torch()
    if len(labels) == 0:
        return 0.0
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(labels), batch):
            x = normalize(images[i : i + batch], IMAGENET_MEAN, IMAGENET_STD)
            pred = model(x).argmax(1).numpy()
            correct += int((pred == labels[i : i + batch]).sum())
    return correct / len(labels)


def train_classifier(
    data: str | Path, config: ClassifierConfig, progress: Progress | None = None
) -> tuple[Any, CheckpointInfo, TrainResult]:
    """Fine-tune (or train the head of) a backbone on an image folder with a held-out split."""
    with torch_threads(config.threads):
        return _train(data, config, progress)


def _train(
    data: str | Path, config: ClassifierConfig, progress: Progress | None
) -> tuple[Any, CheckpointInfo, TrainResult]:
    torch = require_torch()
    folder = scan_image_folder(data, min_per_class=2 if config.val_fraction > 0 else 1)
    train_set, held_set = split_folder(folder, config.val_fraction, config.seed)
    generator = seed_everything(config.seed)
    if config.weights is None:
        logger.warning(
            "no --weights given: the %s backbone starts from random weights "
            "(nnport never downloads weights; pass a local state_dict file)",
            config.backbone,
        )
    model = build_classifier(config.backbone, len(folder.classes), config.hidden, config.weights)
    trunk = model[0]
    if config.freeze:
        trunk.requires_grad_(False)
    x_train, y_train = load_images(train_set, config.image_size)
    x_held, y_held = load_images(held_set, config.image_size)
    augment = _augmenter(config.image_size) if config.augment else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps_per_epoch = (len(y_train) + config.batch_size - 1) // config.batch_size
    total = steps_per_epoch * config.epochs
    history: list[EpochStats] = []
    start, start_cpu, step = time.perf_counter(), time.process_time(), 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        if config.freeze:
            trunk.eval()  # a frozen backbone keeps its BatchNorm statistics, as in Keras
        order = torch.randperm(len(y_train), generator=generator).numpy()
        seen = correct = 0
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            batch = torch.from_numpy(x_train[idx])
            if augment is not None:
                batch = torch.stack([augment(img) for img in batch])
            xb = normalize(batch, IMAGENET_MEAN, IMAGENET_STD)
            yb = torch.from_numpy(y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
            if progress is not None:
                progress(step, total, epoch, loss_sum / seen, correct / seen, None)
        held_acc = _accuracy(model, x_held, y_held, config.batch_size)
        stats = EpochStats(
            epoch,
            loss_sum / max(1, seen),
            correct / max(1, seen),
            held_acc,
            time.perf_counter() - start,
        )
        history.append(stats)
        if progress is not None:
            progress(step, total, epoch, stats.train_loss, stats.train_accuracy, held_acc)
    model.eval()
    info = CheckpointInfo(
        architecture="classifier",
        arch_kwargs={
            "backbone": config.backbone,
            "num_classes": len(folder.classes),
            "hidden": config.hidden,
        },
        input_shape=(1, 3, config.image_size, config.image_size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=folder.classes,
        metrics={"held_out_accuracy": history[-1].test_accuracy if history else 0.0},
    )
    result = TrainResult(
        recipe=f"classifier ({config.backbone})",
        epochs=tuple(history),
        train_samples=len(y_train),
        test_samples=len(y_held),
        test_accuracy=history[-1].test_accuracy if history else 0.0,
        seconds=time.perf_counter() - start,
        threads=int(torch.get_num_threads()),
        cpu_seconds=time.process_time() - start_cpu,
        settings=dataclasses.asdict(config),
    )
    return model, info, result


def save_classifier(
    model: Any, info: CheckpointInfo, result: TrainResult, path: str | Path
) -> TrainResult:
    """Write the classifier checkpoint; return ``result`` naming it."""
    save_checkpoint(model, path, info)
    return dataclasses.replace(result, checkpoint=str(path))
