#!/usr/bin/env python
"""
Convert a checkpoint of the authors' ATSS code (github.com/sfzhang15/ATSS, maskrcnn-benchmark) to
this project's detectron2 model.

Usage:
  # download a model from the official README, e.g. ATSS_R_50_FPN_1x.pth, then
  python tools/convert_official_checkpoint.py ATSS_R_50_FPN_1x.pth \\
      checkpoints/official/atss_R_50_FPN_1x.pth --config configs/Official/atss_R_50_FPN_1x.py

  # evaluate it on COCO minival
  python train_net.py --config-file configs/Official/atss_R_50_FPN_1x.py --eval-only

The architecture (depth, ResNeXt groups and width, deformable stages, deformable tower) is read
from the checkpoint and printed with the matching ``configs/Official`` file. With ``--config`` the
converted weights are also loaded into that config's model, and the conversion fails unless every
tensor loads with no missing, unexpected or mis-shaped key. Nothing is written on failure.
"""
import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import logging
import os
import sys
from dataclasses import asdict
import torch

from detectron2.config import LazyConfig, instantiate
from detectron2.utils.logger import setup_logger

from atss.checkpoint import OfficialArchitecture, anchor_center_shift, convert_official_state_dict
from atss.checkpoint.atomic import write_atomically

logger = logging.getLogger("convert_official_checkpoint")


def official_config_name(arch: OfficialArchitecture) -> str:
    """The ``configs/Official`` file of an architecture, e.g. "atss_dcnv2_X_101_32x8d_FPN_2x"."""
    if arch.num_groups == 1:
        trunk = f"R_{arch.depth}"
    else:
        trunk = f"X_{arch.depth}_{arch.num_groups}x{arch.width_per_group}d"
    dcn = "dcnv2_" if any(arch.deform_on_per_stage) or arch.dcn_in_tower else ""
    schedule = "1x" if arch.depth == 50 else "2x"
    return f"atss_{dcn}{trunk}_FPN_{schedule}"


def load_official_checkpoint(path: str) -> dict:
    """The state dict of an official ``.pth``; a clear error for unreadable or other files."""
    if not os.path.isfile(path):
        raise ValueError(f"Official checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise ValueError(f"Cannot read {path} as a PyTorch checkpoint (truncated?): {e}") from e
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    state_dict = checkpoint.get("model", checkpoint)
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise ValueError(f"{path}: its 'model' entry is not a state dict of tensors")
    return state_dict


def check_against_config(state_dict: dict, config_file: str) -> None:
    """Load ``state_dict`` strictly into the model of ``config_file``; report the first problem."""
    cfg = LazyConfig.load(config_file)
    model = instantiate(cfg.model)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        (k, tuple(state_dict[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"The converted checkpoint does not fit {config_file}: missing keys {missing[:5]}, "
            f"unexpected keys {unexpected[:5]}, (key, shape, expected shape) {wrong_shape[:5]}"
        )
    shift = cfg.model.anchor_generator.get("center_shift", 0.0)
    if shift != 0.5:
        logger.warning(
            f"{config_file} has anchor_generator.center_shift={shift}: the official anchors are "
            "0.5 px off detectron2's; use a configs/Official file to reproduce its detections."
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", metavar="SRC", help="official checkpoint (.pth)")
    parser.add_argument("dst", metavar="DST", help="converted checkpoint to write (.pth)")
    parser.add_argument(
        "--config", metavar="FILE", help="LazyConfig the converted model must load into strictly"
    )
    args = parser.parse_args(argv)
    setup_logger(name="convert_official_checkpoint")

    state_dict = load_official_checkpoint(args.src)
    converted, arch = convert_official_state_dict(state_dict)
    logger.info(f"Architecture of {args.src}: {asdict(arch)}")
    logger.info(
        f"Official anchor centres are {anchor_center_shift(state_dict):+g} px from detectron2's."
    )
    logger.info(f"Matching config: configs/Official/{official_config_name(arch)}.py")
    if args.config:
        check_against_config(converted, args.config)
        logger.info(f"Loads into {args.config} with no missing or unexpected keys.")
    # Torch tensors under "model" and no "matching_heuristics": DetectionCheckpointer loads the
    # names as they are.
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    checkpoint = {"model": converted, "official_architecture": asdict(arch)}
    write_atomically(args.dst, lambda f: torch.save(checkpoint, f))
    logger.info(f"Wrote {len(converted)} tensors to {args.dst}")


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
