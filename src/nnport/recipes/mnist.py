"""The classic PyTorch MNIST CNN and a fast CPU schedule for it (OneCycle AdamW, shifts, FreezeOut)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnport.data.idx import MnistSplit, load_mnist
from nnport.recipes.torchutil import require_torch, seed_everything, torch_threads
from nnport.recipes.training import EpochStats, Progress, TrainResult

logger = logging.getLogger(__name__)

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
MNIST_INPUT_SHAPE = (1, 1, 28, 28)
MNIST_CLASSES = tuple(str(i) for i in range(10))


def build_mnist_cnn() -> Any:
    """Conv 1->32, Conv 32->64, MaxPool 2, Dropout .25, Linear 9216->128, Dropout .5, Linear 128->10."""
    torch = require_torch()
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, 1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(1),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1),
    )


@dataclass(frozen=True)
class MnistTrainConfig:
    """Training settings; the defaults reach ~99.25% test accuracy in under 3 minutes on 2 cores."""

    epochs: int = 3
    batch_size: int = 64
    max_lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0
    limit: int | None = None  # first N training images and first N test images (quick runs)
    threads: int | None = None
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum 0.9)
    shift: int = 2  # random translation of each training image by up to +-shift pixels
    ema_decay: float = 0.0  # > 0: return an exponential moving average of the weights
    label_smoothing: float = 0.1
    eval_each_epoch: bool = False  # score the test set after every epoch, not only the last
    # the last epoch (of 2 or more) trains on this fraction of the training set: the images
    # with the highest loss when last seen (1.0: the whole set)
    hard_fraction: float = 1.0
    # the first convolution stops training after this share of the steps (FreezeOut): the
    # backward pass then skips Conv 32->64's input gradient, about a fifth of a step (1: never)
    freeze_first_conv_at: float = 0.5


def to_tensor(split: MnistSplit) -> tuple[Any, Any]:
    """Normalized float images (N, 1, 28, 28) and int64 labels as torch tensors."""
    torch = require_torch()
    images = split.images.astype(np.float32) / 255.0
    images = (images - MNIST_MEAN[0]) / MNIST_STD[0]
    return torch.from_numpy(images[:, None]), torch.from_numpy(split.labels)


def random_shift(images: Any, pixels: int, generator: Any) -> Any:
    """Translate each image of a (N, 1, H, W) batch by up to +-``pixels``, filling with background."""
    torch = require_torch()
    if pixels <= 0:
        return images
    n, _, height, width = images.shape
    background = (0.0 - MNIST_MEAN[0]) / MNIST_STD[0]
    padded = torch.nn.functional.pad(images, (pixels,) * 4, value=background)
    offsets = torch.randint(0, 2 * pixels + 1, (n, 2), generator=generator)
    rows = (offsets[:, 0, None] + torch.arange(height))[:, :, None]
    cols = (offsets[:, 1, None] + torch.arange(width))[:, None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


def dropout_fast(x: Any, p: float) -> Any:
    """Inverted dropout with a cheaply drawn mask, laid out like ``x``.

    For p = 1/4, 1/2 or 3/4 (the classic net's 0.25 and 0.5) each element's keep draw is two bits
    of a random int64 word, exactly Bernoulli(1 - p) and ~40% cheaper than ``torch.rand`` per
    element; other rates use ``torch.rand``, itself about twice as fast as ``bernoulli_``.
    """
    torch = require_torch()
    dense = x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)
    quarters = round(4 * p)
    if dense and abs(4 * p - quarters) < 1e-9 and 0 < quarters < 4:
        n = x.numel()
        words = torch.randint(-(2**63), 2**63 - 1, ((n + 31) // 32,), dtype=torch.int64)
        shifts = torch.arange(0, 64, 2, dtype=torch.int64)
        draws = ((words[:, None] >> shifts) & 3).view(-1)[:n]  # uniform on 0..3
        keep = torch.as_strided(draws >= quarters, x.size(), x.stride())  # x's own layout
    else:
        keep = torch.empty_like(x).uniform_() >= p
    return x * keep * (1.0 / (1.0 - p))


def train_forward(model: Any, x: Any) -> Any:
    """Run the Sequential CNN for training, computing the same function with cheaper kernels.

    ReLU followed by MaxPool becomes MaxPool followed by ReLU (equal values and gradients, because
    ReLU is monotone; the ReLU then runs on a quarter of the elements) and dropout draws its mask
    with ``torch.rand``. The module itself is untouched, so export and inference see the classic net.
    """
    torch = require_torch()
    nn = torch.nn
    layers = list(model)
    i = 0
    while i < len(layers):
        layer = layers[i]
        after = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.ReLU) and isinstance(after, nn.MaxPool2d):
            x = torch.relu(after(x))
            i += 2
            continue
        if isinstance(layer, nn.Dropout) and layer.training and layer.p > 0:
            x = dropout_fast(x, float(layer.p))
        else:
            x = layer(x)
        i += 1
    return x


class WeightAverage:
    """Exponential moving average of a model's parameters (short warm-up), swapped in at the end."""

    def __init__(self, model: Any, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.params = [p.detach().clone() for p in model.parameters()]

    def update(self, model: Any) -> None:
        torch = require_torch()
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            for average, param in zip(self.params, model.parameters(), strict=True):
                average.lerp_(param.detach(), 1 - decay)

    def copy_to(self, model: Any) -> None:
        torch = require_torch()
        with torch.no_grad():
            for target, value in zip(model.parameters(), self.params, strict=True):
                target.copy_(value)


def evaluate_torch(model: Any, images: Any, labels: Any, *, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on normalized ``images``."""
    torch = require_torch()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            logits = model(images[start : start + batch_size])
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / max(1, int(images.shape[0]))


def train_mnist(
    data: str | Path, config: MnistTrainConfig, progress: Progress | None = None
) -> tuple[Any, TrainResult]:
    """Train the MNIST CNN on ``data`` (IDX folder); return the model and the run's statistics."""
    with torch_threads(config.threads):
        return _train(data, config, progress)


def _train(
    data: str | Path, config: MnistTrainConfig, progress: Progress | None
) -> tuple[Any, TrainResult]:
    torch = require_torch()
    train = load_mnist(data, "train", limit=config.limit)
    test = load_mnist(data, "test", limit=config.limit)
    generator = seed_everything(config.seed)
    # channels-last: with pool-then-ReLU, oneDNN's NHWC convolutions and pooling make a training
    # step ~15% cheaper on two cores (benchmarks/mnist_recipe.py); the weights are restored to
    # the default layout before export
    model = build_mnist_cnn().to(memory_format=torch.channels_last)
    x_train, y_train = to_tensor(train)
    x_test, y_test = to_tensor(test)
    sizes = [len(train)] * config.epochs
    if config.epochs > 1 and config.hard_fraction < 1.0:
        sizes[-1] = max(1, round(len(train) * config.hard_fraction))
    steps = [(n + config.batch_size - 1) // config.batch_size for n in sizes]
    # each image's loss when last seen, kept only when an epoch picks the hardest images
    losses = torch.zeros(len(train)) if min(sizes) < len(train) else None
    if config.optimizer == "sgd":
        optimizer: Any = torch.optim.SGD(
            model.parameters(),
            lr=config.max_lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=config.weight_decay,
        )
    else:
        optimizer = torch.optim.AdamW(  # fused: one kernel per step instead of ~20 small ones
            model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay, fused=True
        )
    total_steps = sum(steps)
    if total_steps >= 20:
        scheduler: Any = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.max_lr, total_steps=total_steps, pct_start=0.25
        )
    else:  # too few steps for a warm-up and an annealing phase: constant rate
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    loss_fn = torch.nn.NLLLoss()
    smoothing = config.label_smoothing
    average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    history: list[EpochStats] = []
    start_time = time.perf_counter()
    start_cpu = time.process_time()
    step = 0
    at = config.freeze_first_conv_at
    freeze_step = round(total_steps * at) if at < 1.0 else -1  # -1: never
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        if losses is not None and sizes[epoch - 1] < len(train):  # the hardest, shuffled
            hardest = torch.topk(losses, sizes[epoch - 1]).indices
            order = hardest[torch.randperm(len(hardest), generator=generator)]
        seen = correct = 0
        loss_sum = 0.0
        for i in range(steps[epoch - 1]):
            if step == freeze_step:
                for param in model[0].parameters():  # its grad stays None: AdamW skips it
                    param.requires_grad_(False)
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            xb = random_shift(x_train[idx], config.shift, generator)
            xb, yb = xb.contiguous(memory_format=torch.channels_last), y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            out = train_forward(model, xb)
            loss = loss_fn(out, yb)
            if smoothing > 0:  # the output is log-probabilities: smooth towards uniform by hand
                loss = (1 - smoothing) * loss - smoothing * out.mean(1).mean()
            if losses is not None:
                losses[idx] = -out.detach().gather(1, yb[:, None])[:, 0]
            loss.backward()
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update(model)
            step += 1
            n = int(yb.shape[0])
            seen += n
            loss_sum += float(loss.detach()) * n
            correct += int((out.argmax(1) == yb).sum())
            if progress is not None:
                progress(step, total_steps, epoch, loss_sum / seen, correct / seen, None)
        last = epoch == config.epochs
        test_acc = -1.0
        if last or config.eval_each_epoch:
            # scored in channels-last too: oneDNN's NHWC forward is ~40% cheaper here
            test_acc = evaluate_torch(model, x_test, y_test)
        stats = EpochStats(
            epoch=epoch,
            train_loss=loss_sum / max(1, seen),
            train_accuracy=correct / max(1, seen),
            test_accuracy=test_acc,
            seconds=time.perf_counter() - start_time,
        )
        history.append(stats)
        logger.info("epoch %d: %s", epoch, stats)
        if progress is not None:
            progress(
                step,
                total_steps,
                epoch,
                stats.train_loss,
                stats.train_accuracy,
                test_acc if test_acc >= 0 else None,
            )
    final_accuracy = history[-1].test_accuracy if history else 0.0
    final_weights = "last step"
    if average is not None:
        average.copy_to(model)
        final_accuracy = evaluate_torch(model, x_test, y_test)
        final_weights = f"EMA of the weights (decay {config.ema_decay:g})"
        logger.info("EMA weights: %.4f held-out accuracy", final_accuracy)
    for param in model.parameters():
        param.requires_grad_(True)
    model.to(memory_format=torch.contiguous_format).eval()
    result = TrainResult(
        recipe="mnist",
        epochs=tuple(history),
        train_samples=len(train),
        test_samples=len(test),
        test_accuracy=final_accuracy,
        seconds=time.perf_counter() - start_time,
        threads=int(torch.get_num_threads()),
        final_weights=final_weights,
        cpu_seconds=time.process_time() - start_cpu,
        settings={k: v for k, v in vars(config).items()},
    )
    return model, result


def save_mnist(model: Any, result: TrainResult, path: str | Path) -> TrainResult:
    """Write the trained CNN as a self-describing checkpoint; return ``result`` naming it."""
    from nnport.recipes.checkpoint import CheckpointInfo, save_checkpoint

    info = CheckpointInfo(
        architecture="mnist_cnn",
        arch_kwargs={},
        input_shape=MNIST_INPUT_SHAPE,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        classes=MNIST_CLASSES,
        metrics={"test_accuracy": result.test_accuracy, "seconds": result.seconds},
    )
    save_checkpoint(model, path, info)
    return dataclasses.replace(result, checkpoint=str(path))
