"""A model zoo of real architectures (random weights, seeded) exported to ONNX at several opsets.

Shared by the benchmarks (check_accuracy.py, fix_zoo.py): ``iter_zoo(cache)`` exports each
architecture once per opset with ``torch.onnx.export`` (TorchScript exporter, which writes
opsets 11, 13 and 17 directly; the dynamo exporter is tried when it fails) and caches the files
under ``~/.cache/nnport-zoo`` (or ``--cache DIR``). An export failure is recorded next to the
cache (``NAME-opN.failed``) and skipped, never fatal. Needs torch, torchvision, timm and
transformers (benchmark-only dependencies, not nnport's).

    python benchmarks/zoo.py --list
    python benchmarks/zoo.py --names resnet18,bert_tiny --opsets 13
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # zoo_yolo beside this file
import zoo_yolo

logger = logging.getLogger("nnport.zoo")

DEFAULT_CACHE = Path(os.environ.get("NNPORT_ZOO_CACHE", "~/.cache/nnport-zoo")).expanduser()
DEFAULT_OPSETS = (11, 13, 17)


@dataclasses.dataclass(frozen=True)
class ZooModel:
    """One exported model file: architecture name, family, opset and where it is cached."""

    name: str
    family: str
    opset: int
    path: Path
    input_shapes: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    params_m: float = 0.0


@dataclasses.dataclass(frozen=True)
class ZooFailure:
    """An export that did not work (kept so benchmarks can say what is missing)."""

    name: str
    family: str
    opset: int
    error: str


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    family: str
    build: Callable[[], tuple[Any, tuple[Any, ...], list[str]]]  # module, example args, input names
    heavy: bool = False  # > ~100 MB or slow to export; iter_zoo(light=True) skips it


def _tv(fn: str, shape: tuple[int, ...] = (1, 3, 224, 224), **kw: Any) -> Callable[[], Any]:
    def build() -> tuple[Any, tuple[Any, ...], list[str]]:
        import torch
        import torchvision

        model = getattr(torchvision.models, fn)(weights=None, **kw)
        return model, (torch.randn(*shape),), ["input"]

    return build


def _tv_det(fn: str, size: int, **kw: Any) -> Callable[[], Any]:
    def build() -> tuple[Any, tuple[Any, ...], list[str]]:
        import torch
        import torchvision

        model = getattr(torchvision.models.detection, fn)(weights=None, weights_backbone=None, **kw)
        return model, ([torch.rand(3, size, size)],), ["images"]

    return build


def _tv_seg(fn: str, size: int = 224, **kw: Any) -> Callable[[], Any]:
    def build() -> tuple[Any, tuple[Any, ...], list[str]]:
        import torch
        import torchvision

        model = getattr(torchvision.models.segmentation, fn)(
            weights=None, weights_backbone=None, **kw
        )

        class _Out(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x: Any) -> Any:
                return self.model(x)["out"]

        return _Out(), (torch.randn(1, 3, size, size),), ["input"]

    return build


def _timm(fn: str, size: int = 224) -> Callable[[], Any]:
    def build() -> tuple[Any, tuple[Any, ...], list[str]]:
        import timm
        import torch

        model = timm.create_model(fn, pretrained=False)
        return model, (torch.randn(1, 3, size, size),), ["input"]

    return build


def _hf(kind: str, seq: int = 16) -> Callable[[], Any]:
    """A small transformers text model built from a config object (random weights, no download)."""

    def build() -> tuple[Any, tuple[Any, ...], list[str]]:
        import torch
        import transformers as tf

        small = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                 "intermediate_size": 256, "vocab_size": 1000, "max_position_embeddings": 64}  # fmt: skip
        if kind == "bert":
            model = tf.BertModel(tf.BertConfig(**small))
        elif kind == "roberta":
            model = tf.RobertaModel(tf.RobertaConfig(**{**small, "max_position_embeddings": 80}))
        elif kind == "electra":
            model = tf.ElectraModel(tf.ElectraConfig(**small, embedding_size=64))
        elif kind == "albert":
            model = tf.AlbertModel(tf.AlbertConfig(**small, embedding_size=64))
        elif kind == "distilbert":
            model = tf.DistilBertModel(tf.DistilBertConfig(
                vocab_size=1000, dim=128, n_layers=2, n_heads=2, hidden_dim=256,
                max_position_embeddings=64))  # fmt: skip
        elif kind == "gpt2":
            model = tf.GPT2Model(tf.GPT2Config(vocab_size=1000, n_positions=64, n_embd=128,
                                               n_layer=2, n_head=2, use_cache=False))  # fmt: skip
        else:
            raise ValueError(kind)
        model.config.return_dict = False
        ids = torch.randint(0, 1000, (1, seq), dtype=torch.int64)
        mask = torch.ones(1, seq, dtype=torch.int64)

        class _Wrap(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

        return _Wrap(), (ids, mask), ["input_ids", "attention_mask"]

    return build


ZOO: tuple[_Spec, ...] = (
    # torchvision classification
    _Spec("resnet18", "classification", _tv("resnet18")),
    _Spec("resnet50", "classification", _tv("resnet50"), heavy=True),
    _Spec("mobilenet_v2", "classification", _tv("mobilenet_v2")),
    _Spec("mobilenet_v3_small", "classification", _tv("mobilenet_v3_small")),
    _Spec("mobilenet_v3_large", "classification", _tv("mobilenet_v3_large")),
    _Spec("efficientnet_b0", "classification", _tv("efficientnet_b0")),
    _Spec("densenet121", "classification", _tv("densenet121")),
    _Spec("squeezenet1_1", "classification", _tv("squeezenet1_1")),
    _Spec("shufflenet_v2_x0_5", "classification", _tv("shufflenet_v2_x0_5")),
    _Spec("regnet_y_400mf", "classification", _tv("regnet_y_400mf")),
    _Spec("mnasnet0_5", "classification", _tv("mnasnet0_5")),
    _Spec("googlenet", "classification", _tv("googlenet", aux_logits=False, init_weights=True)),
    _Spec("convnext_tiny", "classification", _tv("convnext_tiny"), heavy=True),
    _Spec("vit_b_16", "classification", _tv("vit_b_16"), heavy=True),
    _Spec("swin_t", "classification", _tv("swin_t"), heavy=True),
    _Spec("alexnet", "classification", _tv("alexnet"), heavy=True),
    # torchvision detection and segmentation
    _Spec(
        "ssdlite320_mobilenet_v3_large", "detection", _tv_det("ssdlite320_mobilenet_v3_large", 320)
    ),
    _Spec(
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "detection",
        _tv_det("fasterrcnn_mobilenet_v3_large_320_fpn", 320),
    ),
    _Spec(
        "retinanet_resnet50_fpn", "detection", _tv_det("retinanet_resnet50_fpn", 320), heavy=True
    ),
    _Spec("yolo_like", "detection", lambda: zoo_yolo.build()),  # YOLOv5-style, written here
    _Spec("deeplabv3_mobilenet_v3_large", "segmentation", _tv_seg("deeplabv3_mobilenet_v3_large")),
    _Spec("lraspp_mobilenet_v3_large", "segmentation", _tv_seg("lraspp_mobilenet_v3_large")),
    _Spec("fcn_resnet50", "segmentation", _tv_seg("fcn_resnet50"), heavy=True),
    # video (3-D convolutions)
    _Spec("r3d_18", "video", lambda: _video("r3d_18"), heavy=True),
    # timm
    _Spec("timm_lcnet_050", "timm", _timm("lcnet_050")),
    _Spec("timm_ghostnet_100", "timm", _timm("ghostnet_100")),
    _Spec("timm_mobilevit_xxs", "timm", _timm("mobilevit_xxs", 256)),
    _Spec("timm_deit_tiny", "timm", _timm("deit_tiny_patch16_224")),
    _Spec("timm_resnet10t", "timm", _timm("resnet10t")),
    _Spec("timm_regnetx_002", "timm", _timm("regnetx_002")),
    _Spec("timm_repvgg_a0", "timm", _timm("repvgg_a0")),
    _Spec("timm_convnextv2_atto", "timm", _timm("convnextv2_atto")),
    _Spec("timm_levit_128s", "timm", _timm("levit_128s")),
    # transformers text models (small configs)
    _Spec("bert_tiny", "text", _hf("bert")),
    _Spec("distilbert_tiny", "text", _hf("distilbert")),
    _Spec("gpt2_tiny", "text", _hf("gpt2")),
    _Spec("roberta_tiny", "text", _hf("roberta")),
    _Spec("albert_tiny", "text", _hf("albert")),
    _Spec("electra_tiny", "text", _hf("electra")),
)


def _video(fn: str) -> tuple[Any, tuple[Any, ...], list[str]]:
    import torch
    import torchvision

    model = getattr(torchvision.models.video, fn)(weights=None)
    return model, (torch.randn(1, 3, 8, 112, 112),), ["input"]


def _export(spec: _Spec, opset: int, path: Path) -> tuple[dict[str, tuple[int, ...]], float]:
    """Export ``spec`` at ``opset`` to ``path`` (atomically); returns input shapes and Mparams."""
    import torch

    torch.manual_seed(0)
    model, args, names = spec.build()
    model.eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    shapes = {}
    flat = [a for arg in args for a in (arg if isinstance(arg, list) else [arg])]
    for name, tensor in zip(names, flat, strict=False):
        shapes[name] = tuple(int(d) for d in tensor.shape)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, args, tmp, input_names=names, opset_version=opset,
                                  dynamo=False, do_constant_folding=True)  # fmt: skip
            except Exception as first:
                logger.info("%s opset %d: TorchScript exporter failed (%s); trying dynamo",
                            spec.name, opset, str(first).splitlines()[0][:200])  # fmt: skip
                torch.onnx.export(model, args, tmp, input_names=names, opset_version=opset,
                                  dynamo=True, external_data=False)  # fmt: skip
        _check_opset(tmp, opset)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return shapes, params


def _check_opset(path: str, opset: int) -> None:
    import onnx

    model = onnx.load(path, load_external_data=False)
    got = [i.version for i in model.opset_import if i.domain in ("", "ai.onnx")]
    if got and got[0] != opset:
        raise RuntimeError(f"exporter wrote opset {got[0]}, not {opset}")


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def iter_zoo(
    cache: Path | str = DEFAULT_CACHE,
    opsets: Sequence[int] = DEFAULT_OPSETS,
    names: Iterable[str] | None = None,
    *,
    light: bool = False,
    retry_failed: bool = False,
) -> Iterator[ZooModel]:
    """Yield every (architecture, opset) that exports; export on first use, then from the cache.

    ``names`` picks architectures (or families) by name; ``light`` skips the heavy ones. A failed
    export is recorded as ``NAME-opN.failed`` in the cache and skipped (see ``zoo_failures``).
    """
    import json

    cache = Path(cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    wanted = set(names) if names else None
    for spec in ZOO:
        if wanted and spec.name not in wanted and spec.family not in wanted:
            continue
        if light and spec.heavy and not wanted:
            continue
        for opset in opsets:
            path = cache / f"{spec.name}-op{opset}.onnx"
            failed = path.with_suffix(".failed")
            meta = _meta_path(path)
            if failed.exists() and not retry_failed:
                continue
            if not (path.exists() and meta.exists()):
                start = time.perf_counter()
                try:
                    shapes, params = _export(spec, opset, path)
                except Exception as exc:
                    text = " ".join(str(exc).split())[:500] or type(exc).__name__
                    failed.write_text(f"{type(exc).__name__}: {text}\n")
                    logger.warning("%s opset %d: export failed: %s", spec.name, opset, text[:200])
                    continue
                meta.write_text(json.dumps({"input_shapes": shapes, "params_m": params}))
                logger.info("exported %s opset %d in %.1f s", spec.name, opset,
                            time.perf_counter() - start)  # fmt: skip
                failed.unlink(missing_ok=True)
            info = json.loads(meta.read_text())
            yield ZooModel(
                spec.name, spec.family, opset, path,
                {k: tuple(v) for k, v in info["input_shapes"].items()}, float(info["params_m"]),
            )  # fmt: skip


def zoo_failures(cache: Path | str = DEFAULT_CACHE) -> list[ZooFailure]:
    """The exports recorded as failed in ``cache``."""
    families = {s.name: s.family for s in ZOO}
    out = []
    for failed in sorted(Path(cache).expanduser().glob("*.failed")):
        name, _, opset = failed.stem.rpartition("-op")
        out.append(
            ZooFailure(name, families.get(name, "?"), int(opset), failed.read_text().strip())
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--opsets", default=",".join(map(str, DEFAULT_OPSETS)))
    parser.add_argument("--names", default="", help="comma-separated architectures or families")
    parser.add_argument("--light", action="store_true", help="skip heavy models")
    parser.add_argument("--list", action="store_true", help="list the architectures and exit")
    parser.add_argument("--retry-failed", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for spec in ZOO:
            print(f"{spec.name:40s} {spec.family:15s} {'heavy' if spec.heavy else ''}")
        print(f"{len(ZOO)} architectures")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opsets = tuple(int(o) for o in args.opsets.split(","))
    names = [n for n in args.names.split(",") if n] or None
    count = 0
    for model in iter_zoo(
        args.cache, opsets, names, light=args.light, retry_failed=args.retry_failed
    ):
        count += 1
        size = model.path.stat().st_size / 1e6
        print(
            f"{model.name:40s} op{model.opset:<3d} {model.family:15s} {size:8.1f} MB  {model.path}"
        )
    failures = [
        f for f in zoo_failures(args.cache) if f.opset in opsets and (not names or f.name in names)
    ]
    for f in failures:
        print(f"FAILED {f.name} op{f.opset}: {f.error[:160]}")
    print(f"{count} models exported, {len(failures)} export failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
