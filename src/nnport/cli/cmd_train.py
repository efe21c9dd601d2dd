"""``nnport train mnist|classifier``: train a recipe model and write a self-describing checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import JSON_OPT, console, emit_json
from nnport.cli.train_progress import training_progress

train_app = typer.Typer(
    help="Train a recipe model (MNIST CNN, transfer-learning image classifier) to a checkpoint.",
    no_args_is_help=True,
)

MNIST_DATA_OPT = typer.Option(
    ..., "--data", help="Folder with the four MNIST IDX files (.gz or raw).", show_default=False
)
FOLDER_DATA_OPT = typer.Option(
    ...,
    "--data",
    help="Image folder with one sub-folder per class (PNG/JPEG).",
    show_default=False,
)
WEIGHTS_OPT = typer.Option(
    None,
    "--weights",
    help="Backbone state_dict file (never downloaded; random init with a warning if omitted).",
)
OUT_OPT = typer.Option(..., "--output", "-o", help="Checkpoint to write (.pt).", show_default=False)


@train_app.command("mnist")
def train_mnist_cmd(
    data: Path = MNIST_DATA_OPT,
    output: Path = OUT_OPT,
    epochs: int = typer.Option(3, "--epochs", min=1, help="Passes over the training set."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per step."),
    lr: float = typer.Option(1e-2, "--lr", min=0.0, help="Peak learning rate (OneCycle AdamW)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, shuffling and dropout."),
    shift: int = typer.Option(
        2, "--shift", min=0, max=8, help="Random translation of training images, +-pixels (0: off)."
    ),
    label_smoothing: float = typer.Option(
        0.1, "--label-smoothing", min=0.0, max=0.5, help="Label smoothing of the loss (0: off)."
    ),
    eval_each_epoch: bool = typer.Option(
        False, "--eval-each-epoch", help="Score the test set after every epoch (default: last)."
    ),
    hard_fraction: float = typer.Option(
        1.0,
        "--hard-fraction",
        min=0.01,
        max=1.0,
        help="The last epoch trains on this share of the training images, those with the highest "
        "loss when last seen (1: every image).",
    ),
    freeze_first_conv_at: float = typer.Option(
        0.5,
        "--freeze-first-conv-at",
        min=0.0,
        max=1.0,
        help="Stop training the first convolution after this share of the steps (1: never); "
        "each later step is about a fifth cheaper.",
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Use only the first N training and N test images (quick runs)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="torch CPU threads (default: torch's choice)."
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Train the classic PyTorch MNIST CNN (the checkpoint records architecture, input shape and
    normalization, so `nnport export` needs no flags)."""
    from nnport.recipes.mnist import MnistTrainConfig, save_mnist, train_mnist

    config = MnistTrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        max_lr=lr,
        seed=seed,
        limit=limit,
        threads=threads,
        shift=shift,
        label_smoothing=label_smoothing,
        eval_each_epoch=eval_each_epoch,
        hard_fraction=hard_fraction,
        freeze_first_conv_at=freeze_first_conv_at,
    )
    with training_progress("train mnist") as progress:
        model, result = train_mnist(data, config, progress)
    result = save_mnist(model, result, output)
    _render(result, json_out)


@train_app.command("classifier")
def train_classifier_cmd(
    data: Path = FOLDER_DATA_OPT,
    output: Path = OUT_OPT,
    backbone: str = typer.Option(
        "resnet50",
        "--backbone",
        help="torchvision backbone: resnet18, resnet50, mobilenet_v3_large...",
    ),
    weights: Path | None = WEIGHTS_OPT,
    freeze: bool = typer.Option(False, "--freeze", help="Train only the new head."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training split."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per step."),
    image_size: int = typer.Option(224, "--image-size", min=16, help="Square input size."),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="Adam learning rate."),
    hidden: int = typer.Option(1024, "--hidden", min=1, help="Width of the Dense ReLU layer."),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", min=0.0, max=0.9, help="Held-out share of each class."
    ),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable training augmentation."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split, weights and augmentation."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    json_out: bool = JSON_OPT,
) -> None:
    """Transfer learning: backbone + global average pooling + Dense(1024, ReLU) + Dense(classes),
    with rotation/shift/shear/zoom/flip augmentation and a held-out split."""
    from nnport.recipes.classifier import ClassifierConfig, save_classifier, train_classifier

    config = ClassifierConfig(
        backbone=backbone,
        weights=str(weights) if weights else None,
        freeze=freeze,
        epochs=epochs,
        batch_size=batch_size,
        image_size=image_size,
        lr=lr,
        hidden=hidden,
        val_fraction=val_fraction,
        augment=not no_augment,
        seed=seed,
        threads=threads,
    )
    with training_progress(f"train {backbone}") as progress:
        model, info, result = train_classifier(data, config, progress)
    result = save_classifier(model, info, result, output)
    _render(result, json_out)


@train_app.command("detector")
def train_detector_cmd(
    data: Path = typer.Option(
        ...,
        "--data",
        help="Dataset folder with train/ and val/ (YOLO txt), e.g. from `nnport data shapes`.",
        show_default=False,
    ),
    output: Path = OUT_OPT,
    epochs: int = typer.Option(8, "--epochs", min=1, help="Passes over the training split."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per step."),
    lr: float = typer.Option(3e-3, "--lr", min=0.0, help="Peak learning rate (OneCycle AdamW)."),
    width: int = typer.Option(16, "--width", min=8, help="Channel width of the network."),
    preprocess: str = typer.Option(
        "rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw,float32",
        "--preprocess",
        help="Input preprocessing spec, recorded in the checkpoint and the exported model.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, shuffling and flips."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Use only the first N training images (quick runs)."
    ),
    eval_each_epoch: bool = typer.Option(
        False, "--eval-each-epoch", help="Score val mAP after every epoch (default: last)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    json_out: bool = JSON_OPT,
) -> None:
    """A small anchor-free YOLO-style detector (one stride-8 grid head, focal + GIoU loss) scored
    by mAP@0.5 on the val split; `nnport export` then decodes boxes in the graph (--nms adds NMS)."""
    from nnport.recipes.detector import DetectorConfig, save_detector, train_detector

    config = DetectorConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        width=width,
        seed=seed,
        threads=threads,
        limit=limit,
        eval_each_epoch=eval_each_epoch,
        preprocess=preprocess,
    )
    with training_progress("train detector") as progress:
        model, info, result = train_detector(data.expanduser(), config, progress)
    result = save_detector(model, info, result, output.expanduser())
    _render(result, json_out)


def _render(result: object, json_out: bool) -> None:
    from nnport.recipes.training import TrainResult
    from nnport.report.train import render_train

    assert isinstance(result, TrainResult)
    if json_out:
        emit_json(result)
    else:
        console.print(render_train(result))


def register(app: typer.Typer) -> None:
    """Add the ``train`` verb group (``train mnist``, ``train classifier``, ``train detector``)."""
    app.add_typer(train_app, name="train")
