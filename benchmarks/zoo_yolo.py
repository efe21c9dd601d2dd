"""A small YOLOv5-style detector for the zoo, written here (no download): the layer patterns of
the detectors users take to ncnn and NPUs, with random weights.

Conv-BN-SiLU blocks, CSP blocks (two branches joined by Concat), SPPF (three chained 5x5
MaxPools), an FPN neck upsampling with ``nn.Upsample(mode="nearest")`` and a head that decodes
boxes in the graph: sigmoid, grid offsets, anchor sizes, then every level's predictions joined
into one [1, N, 5 + classes] tensor (no NMS, as YOLOv5 exports it).
"""

from __future__ import annotations

from typing import Any


def build(size: int = 256, classes: int = 3) -> tuple[Any, tuple[Any, ...], list[str]]:
    """The module, an example input and the input names (the zoo's builder protocol)."""
    import torch
    from torch import nn

    def conv(c_in: int, c_out: int, k: int = 1, s: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, bias=False),
                             nn.BatchNorm2d(c_out), nn.SiLU())  # fmt: skip

    class CSP(nn.Module):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            half = c_out // 2
            self.a, self.b = conv(c_in, half), conv(c_in, half)
            self.m = nn.Sequential(conv(half, half), conv(half, half, 3))
            self.out = conv(2 * half, c_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.cat((self.m(self.a(x)) + self.a(x), self.b(x)), 1))

    class SPPF(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.pre, self.post = conv(c, c // 2), conv(c * 2, c)
            self.pool = nn.MaxPool2d(5, 1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pre(x)
            y1 = self.pool(x)
            y2 = self.pool(y1)
            return self.post(torch.cat((x, y1, y2, self.pool(y2)), 1))

    anchors = torch.tensor([[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]],
                            [[116, 90], [156, 198], [373, 326]]], dtype=torch.float32)  # fmt: skip
    strides = (8, 16, 32)
    outputs = 5 + classes

    class Detect(nn.Module):
        def __init__(self, channels: tuple[int, ...]) -> None:
            super().__init__()
            self.m = nn.ModuleList(nn.Conv2d(c, 3 * outputs, 1) for c in channels)
            for level, stride in enumerate(strides):
                ny = nx = size // stride
                yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
                grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float() - 0.5
                self.register_buffer(f"grid{level}", grid)
                self.register_buffer(f"anchor{level}", anchors[level].view(1, 3, 1, 1, 2))

        def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
            found = []
            for level, (x, stride) in enumerate(zip(features, strides, strict=True)):
                x = self.m[level](x)
                _, _, ny, nx = x.shape
                y = x.view(1, 3, outputs, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
                xy = (y[..., :2] * 2 + getattr(self, f"grid{level}")) * stride
                wh = (y[..., 2:4] * 2) ** 2 * getattr(self, f"anchor{level}")
                found.append(torch.cat((xy, wh, y[..., 4:]), -1).view(1, -1, outputs))
            return torch.cat(found, 1)

    class YoloLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(conv(3, 16, 6, 2), conv(16, 32, 3, 2), CSP(32, 32))
            self.p3 = nn.Sequential(conv(32, 64, 3, 2), CSP(64, 64))
            self.p4 = nn.Sequential(conv(64, 128, 3, 2), CSP(128, 128))
            self.p5 = nn.Sequential(conv(128, 256, 3, 2), CSP(256, 256), SPPF(256))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.lat5, self.lat4 = conv(256, 128), conv(128, 64)
            self.top4, self.top3 = CSP(256, 128), CSP(128, 64)
            self.down3, self.down4 = conv(64, 64, 3, 2), conv(128, 128, 3, 2)
            self.bot4, self.bot5 = CSP(128, 128), CSP(256, 256)
            self.detect = Detect((64, 128, 256))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c3 = self.p3(self.stem(x))
            c4 = self.p4(c3)
            c5 = self.p5(c4)
            l5 = self.lat5(c5)
            t4 = self.top4(torch.cat((self.up(l5), c4), 1))
            l4 = self.lat4(t4)
            n3 = self.top3(torch.cat((self.up(l4), c3), 1))
            n4 = self.bot4(torch.cat((self.down3(n3), l4), 1))
            n5 = self.bot5(torch.cat((self.down4(n4), l5), 1))
            return self.detect([n3, n4, n5])

    return YoloLike(), (torch.rand(1, 3, size, size),), ["images"]
