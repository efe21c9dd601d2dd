"""MNIST schedule options: random-shift augmentation, label smoothing and the EMA of the weights."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from nnport.data.idx import load_mnist  # noqa: E402
from nnport.recipes.mnist import (  # noqa: E402
    MNIST_MEAN,
    MNIST_STD,
    MnistTrainConfig,
    WeightAverage,
    build_mnist_cnn,
    dropout_fast,
    evaluate_torch,
    random_shift,
    to_tensor,
    train_forward,
    train_mnist,
)


def test_random_shift_is_a_translated_crop_with_background_fill() -> None:
    images = torch.randn(16, 1, 28, 28)
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    background = (0.0 - MNIST_MEAN[0]) / MNIST_STD[0]
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=background)
    offsets = torch.randint(0, 5, (16, 2), generator=torch.Generator().manual_seed(0))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert torch.equal(shifted[i, 0], padded[i, 0, dy : dy + 28, dx : dx + 28])
    assert not torch.equal(shifted, images)  # 16 images: some offset is not (2, 2)
    assert random_shift(images, 0, torch.Generator()) is images


def test_weight_average_tracks_the_parameters() -> None:
    model = build_mnist_cnn()
    average = WeightAverage(model, 0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model)  # warm-up decay min(0.5, 2/11): mostly the new weights
    copy = build_mnist_cnn()
    average.copy_to(copy)
    for new, avg, old in zip(model.parameters(), copy.parameters(), average.params, strict=True):
        assert torch.allclose(avg, old)
        assert torch.allclose(new - avg, torch.full_like(new, 2 / 11), atol=1e-5)


def test_schedule_options_train_deterministically(mnist_dir: Path) -> None:
    config = MnistTrainConfig(
        epochs=1, limit=256, seed=5, threads=1, shift=2, label_smoothing=0.1, ema_decay=0.9
    )
    first, r1 = train_mnist(mnist_dir, config)
    second, r2 = train_mnist(mnist_dir, config)
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert r1.final_weights.startswith("EMA") and r1.test_accuracy == r2.test_accuracy
    x, y = to_tensor(load_mnist(mnist_dir, "test", limit=256))
    assert evaluate_torch(first, x, y) == r1.test_accuracy  # the returned weights were scored


def test_train_forward_computes_the_module_function_and_gradients() -> None:
    torch.manual_seed(3)
    model = build_mnist_cnn().eval()  # eval: dropout is the identity in both paths
    x = torch.randn(8, 1, 28, 28)
    reference = model(x)
    reference.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    fast = train_forward(model, x)
    fast.sum().backward()
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)


def test_fast_dropout_zeroes_a_share_p_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout_fast(x, 0.25)
    zeros = float((y == 0).float().mean())
    assert abs(zeros - 0.25) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.01
    assert torch.unique(y).tolist() == pytest.approx([0.0, 1 / 0.75])


def test_only_the_last_epoch_is_scored_unless_asked(mnist_dir: Path) -> None:
    config = MnistTrainConfig(epochs=2, limit=128, threads=1)
    _, quick = train_mnist(mnist_dir, config)
    assert [e.test_accuracy >= 0 for e in quick.epochs] == [False, True]
    _, full = train_mnist(
        mnist_dir, MnistTrainConfig(epochs=2, limit=128, threads=1, eval_each_epoch=True)
    )
    assert all(e.test_accuracy >= 0 for e in full.epochs)


def test_hard_fraction_trains_the_last_epoch_on_the_hardest_images(mnist_dir: Path) -> None:
    seen: list[tuple[int, int]] = []  # (step, total) per progress call

    def progress(step: int, total: int, *_: object) -> None:
        seen.append((step, total))

    config = MnistTrainConfig(epochs=2, limit=256, batch_size=32, threads=1, hard_fraction=0.25)
    _, result = train_mnist(mnist_dir, config, progress)
    # epoch 1: 256 images in 8 steps; epoch 2: the hardest 64 images in 2 steps
    assert seen[-1] == (10, 10) and result.epochs[0].train_accuracy >= 0
    _, again = train_mnist(mnist_dir, config)
    assert again.test_accuracy == result.test_accuracy  # deterministic under the seed


def test_the_first_conv_stops_training_after_its_share_of_the_steps(
    mnist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nnport.recipes.mnist as recipe

    built: list[torch.nn.Module] = []
    original = recipe.build_mnist_cnn

    def build() -> torch.nn.Module:
        built.append(original())
        return built[-1]

    monkeypatch.setattr(recipe, "build_mnist_cnn", build)
    snapshots: dict[int, list[torch.Tensor]] = {}  # epoch -> first-conv weights after each step

    def progress(step: int, total: int, epoch: int, *_: object) -> None:
        snapshots.setdefault(epoch, []).append(built[0][0].weight.detach().clone())

    # 3 epochs of 6 steps; frozen from step 12 (2/3 of 18) on: trained in epochs 1-2 only
    config = MnistTrainConfig(epochs=3, limit=192, batch_size=32, threads=1,
                              freeze_first_conv_at=2 / 3)  # fmt: skip
    model, _ = train_mnist(mnist_dir, config, progress)
    assert not torch.equal(snapshots[2][0], snapshots[2][-1])  # trained in epoch 2
    assert all(torch.equal(w, snapshots[2][-1]) for w in snapshots[3])  # frozen in epoch 3
    assert all(p.requires_grad for p in model.parameters())  # the returned model is whole again
