#!/usr/bin/env python
"""
Publish a trained run as a model-zoo entry, as detectron2's model zoo shares its models
(docs/custom_data.md, "Publish"):

  python tools/publish_model.py output/custom/atss_R_18_FPN_cpu --name atss_R_18_FPN_voc \\
      --output published

writes ``published/atss_R_18_FPN_voc/model_final_<sha256[:8]>.pth`` (the weights of the run's
best checkpoint, ``model_best.pth``, or with ``--checkpoint final`` of its last), the run's
``config.yaml``, the checkpoint's ``metrics.json`` and recommended ``score_threshold.json``, and
prints a row for MODEL_ZOO.md. Load it
back with ``atss.model_zoo.get_published("published/atss_R_18_FPN_voc")``, or give the ``.pth``
to ``train.init_checkpoint``, the demo or the exporter.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import sys

from atss.checkpoint.errors import CheckpointError
from atss.engine.defaults import ConfigError
from atss.model_zoo.publish import CHECKPOINT_CHOICES, publish_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="the output directory of a train_net.py run")
    parser.add_argument("--name", required=True, help="the entry's name, e.g. atss_R_18_FPN_voc")
    parser.add_argument("--output", default="published", help="where entries are written")
    parser.add_argument(
        "--checkpoint",
        choices=CHECKPOINT_CHOICES,
        default="best",
        help="the run's checkpoint to publish: model_best.pth (the default; the final one when "
        "the run kept no best) or the final one",
    )
    args = parser.parse_args(argv)
    try:
        entry = publish_run(args.run_dir, args.name, args.output, args.checkpoint)
    except (ConfigError, CheckpointError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    ap = entry.metrics.get("bbox/AP")
    evaluated = "not evaluated" if ap is None else f"bbox/AP {ap:.2f}"
    print(f"Took {entry.source} (iteration {entry.iterations or '?'}, {evaluated}).")
    if entry.score_threshold is None:
        print("Its evaluation recommended no score threshold: the demo will use its default.")
    else:
        print(f"Recommended score threshold: {entry.score_threshold:.2f} (score_threshold.json).")
    print(f"Published {entry.checkpoint} (sha256 {entry.sha256}).")
    print("Row for MODEL_ZOO.md:")
    print(entry.model_zoo_row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
