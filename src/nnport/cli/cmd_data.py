"""``nnport data ...``: make the datasets nnport's recipes and checks use (shapes detection)."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import JSON_OPT, console, emit_json

data_app = typer.Typer(
    help="Make datasets: `data shapes` (a detection set of coloured shapes, YOLO txt + COCO JSON), "
    "`data mnist` (download MNIST and verify it).",
    no_args_is_help=True,
)


@data_app.command("shapes")
def data_shapes_cmd(
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Folder to create (must not exist or be empty).",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same pixels."),
    images: int = typer.Option(
        2000, "--images", min=1, help="Training images; the val split gets a fifth (at least 10)."
    ),
    size: int = typer.Option(160, "--size", min=32, help="Square image side in pixels."),
    json_out: bool = JSON_OPT,
) -> None:
    """Generate the shapes detection dataset: circles, squares and triangles of several sizes on
    textured backgrounds, 1-4 per image; DIR/{train,val}/images/*.png with labels/*.txt (YOLO:
    class cx cy w h) and annotations.json (COCO), and DIR/classes.txt."""
    from nnport.data.shapes import ShapesConfig, generate_shapes

    result = generate_shapes(output.expanduser(), ShapesConfig(images=images, size=size, seed=seed))
    if json_out:
        emit_json(result)
        return
    console.print(
        f"wrote {result.root}: classes {', '.join(result.classes)}; "
        + "; ".join(
            f"{s} {result.images[s]} images, {result.objects[s]} objects" for s in result.images
        )
        + f"; {result.size}x{result.size}, seed {result.seed}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``data`` verb group."""
    app.add_typer(data_app, name="data")
