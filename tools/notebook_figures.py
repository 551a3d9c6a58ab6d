#!/usr/bin/env python
"""
Refresh the pictures that docs/visualization.md shows of the visualizer notebooks, from their
committed outputs: the figure of each notebook's cell tagged ``readme-figure``, resized to 800 px
wide and saved as a palette PNG (a few tens of KB) in ``notebooks/figures/<notebook>.png``.

    jupyter execute --inplace notebooks/*.ipynb  # re-execute the notebooks first, if needed
    python tools/notebook_figures.py
"""
import base64
import io
from pathlib import Path
import nbformat
from PIL import Image

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TAG = "readme-figure"
WIDTH = 800
# A palette of 128 colours keeps the small legend markers of each pyramid level distinct.
COLORS = 128


def tagged_figure(path: Path) -> Image.Image:
    """The first image output of the notebook's cell tagged ``TAG``."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if TAG not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in ("image/png", "image/jpeg"):
                if mime in data:
                    return Image.open(io.BytesIO(base64.b64decode(data[mime]))).convert("RGB")
        raise ValueError(f"{path}: the cell tagged {TAG!r} has no image output; execute it first")
    raise ValueError(f"{path} has no cell tagged {TAG!r}")


def main() -> None:
    out_dir = NOTEBOOKS / "figures"
    out_dir.mkdir(exist_ok=True)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        image = tagged_figure(path)
        if image.width > WIDTH:
            image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
        image = image.quantize(colors=COLORS, method=Image.Quantize.FASTOCTREE)
        target = out_dir / f"{path.stem}.png"
        image.save(target, optimize=True)
        print(f"{target}: {target.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
