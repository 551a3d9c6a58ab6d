"""
CPU inference time and parameter count of every model of the zoo (the authors' eight ATSS models,
``configs/Official/``), on one 800x1333 image: the figures of MODEL_ZOO.md.

    python benchmarks/model_zoo_speed.py [--threads 2 --repeats 3 --models NAME ...]

Random weights (the time of the network does not depend on them; with the classification prior of
0.01 almost no candidate passes the 0.05 threshold, so this is the network and an empty
post-processing). Each time is the median of ``--repeats`` forward passes in eval mode after one
warm-up pass, with the model's own preprocessing (normalisation, padding to a multiple of 32).
"""
import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import torch

from detectron2.config import instantiate

from atss import model_zoo
from timing import median_seconds


def inference_seconds(model: torch.nn.Module, image: torch.Tensor, repeats: int) -> float:
    model.eval()
    with torch.no_grad():
        return median_seconds(lambda: model([{"image": image}]), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1333)
    parser.add_argument("--models", nargs="*", default=list(model_zoo.OFFICIAL_MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.rand(3, args.height, args.width) * 255

    print(
        f"{args.height}x{args.width} input, {args.threads} CPU threads, "
        f"median of {args.repeats} after a warm-up"
    )
    print("| model | parameters (M) | inference on this CPU (s) |\n|---|---|---|")
    for name in args.models:
        cfg = model_zoo.get_config(f"Official/{name}.py")
        model = instantiate(cfg.model)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        seconds = inference_seconds(model, image, args.repeats)
        print(f"| {name} | {params:.2f} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
