"""
CPU time of one training step and one inference of ATSS R-50 FPN next to detectron2's own FCOS
R-50 FPN and this project's AutoAssign R-50 FPN, on the same 800x1216 input, in one run.

    python benchmarks/model_speed.py [--height 800 --width 1216 --repeats 3 --threads N]

The three models are built from LazyConfigs with the same ResNet-50 + FPN P3-P7 backbone (random
weights: timing does not depend on them). A training step is forward + backward with the losses
of the model; inference is a forward pass in eval mode with the post-processing. Each figure is
the median of ``--repeats`` runs after one warm-up run.
"""
import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
from pathlib import Path
import torch

from detectron2.config import LazyConfig, instantiate
from detectron2.model_zoo import get_config
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import atss  # noqa: F401 (registers ATSS and AutoAssign)
from timing import median_seconds

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def make_inputs(height: int, width: int, num_boxes: int = 8):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(3, height, width, generator=generator) * 255
    xy = torch.rand(num_boxes, 2, generator=generator) * torch.tensor([width, height]) * 0.7
    wh = 32 + torch.rand(num_boxes, 2, generator=generator) * 300
    instances = Instances((height, width))
    instances.gt_boxes = Boxes(torch.cat([xy, xy + wh], dim=1))
    instances.gt_classes = torch.randint(0, 80, (num_boxes,), generator=generator)
    return [{"image": image, "instances": instances}]


def measure(model, inputs, repeats: int):
    def train_step():
        model.train()
        with EventStorage():
            losses = model(inputs)
        model.zero_grad()
        sum(losses.values()).backward()

    def inference():
        model.eval()
        with torch.no_grad():
            model([{"image": inputs[0]["image"]}])

    return median_seconds(train_step, repeats), median_seconds(inference, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models = {
        "ATSS R-50 FPN": instantiate(
            LazyConfig.load(str(CONFIGS / "common/models/atss.py")).model
        ),
        "detectron2 FCOS R-50 FPN": instantiate(get_config("common/models/fcos.py").model),
        "AutoAssign R-50 FPN": instantiate(
            LazyConfig.load(str(CONFIGS / "common/models/autoassign.py")).model
        ),
    }
    inputs = make_inputs(args.height, args.width)
    print(f"input {args.height}x{args.width}, {args.threads} CPU threads, median of {args.repeats}")
    print(f"{'model':<28}{'params (M)':>12}{'train step (s)':>16}{'inference (s)':>15}")
    for name, model in models.items():
        params = sum(p.numel() for p in model.parameters()) / 1e6
        train, infer = measure(model, inputs, args.repeats)
        print(f"{name:<28}{params:>12.2f}{train:>16.2f}{infer:>15.2f}")


if __name__ == "__main__":
    main()
