"""
The project's check on a machine with one CUDA GPU: one command, meant to finish in under 8
minutes on an H100 (not yet run on one), printing one table.

    python benchmarks/gpu_check.py                      # on the GPU
    python benchmarks/gpu_check.py --device cpu --tiny  # every step on the CPU, tiny sizes

Rows of the table:

- the suite's CUDA tests (those with a ``skipif`` whose reason names CUDA), run by pytest in a
  subprocess (``benchmarks/cuda_tests_plugin.py`` selects them);
- one training step (forward, backward, SGD step) of ATSS R-50 FPN and of detectron2's FCOS R-50
  FPN at batch 8 of 800x1333 images, in float32 and with AMP (float16 autocast and a gradient
  scaler, as detectron2's AMPTrainer): images per second and peak memory, side by side;
- inference latency of ATSS R-50 FPN at batch 1: eager, TorchScript (traced by ``atss.export``)
  and ONNX Runtime's CUDA provider (skipped, with the reason, where it is not installed);
- ATSS dcnv2 R-50 FPN on the GPU against the CPU: the same detections within 1e-3;
- 300 iterations of AMP training of ATSS R-50 FPN on synthetic shapes images of 800 to 1333 px
  (``atss.data.generate_shapes``): finite and decreasing loss, time per iteration;
- the figure targets, PASS or FAIL: the ATSS training step takes at most the time of FCOS's
  (1.0x), AMP gives at least 1.5x the float32 throughput of ATSS.

The command exits with 1 when a row FAILs. Without CUDA it prints "no CUDA device: nothing
measured" and exits with 1, so it never passes by accident. ``--device cpu --tiny`` runs the same
code on the CPU with tiny images, batch 2 and a few iterations (AMP is bfloat16 autocast there);
the speed targets and the loss decrease are then printed but not checked.

Weights are random (no download). Residual branches of the frozen-BN ResNets are scaled down so
that activations stay in float16's range through the 16 blocks; the models compute as much as
trained ones. Times are medians of ``time.perf_counter`` around calls that end with
``torch.cuda.synchronize``; inputs are already on the device.
"""
import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import contextlib
import copy
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Tuple
import cv2
import torch

from detectron2.config import LazyConfig, instantiate
from detectron2.model_zoo import get_config
from detectron2.modeling.backbone.resnet import BottleneckBlock
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from atss.data import SHAPES_CLASSES, ShapesSpec, generate_shapes
from atss.export import export_tracing, plain_module_attributes
from atss.export.exporter import OUTPUT_NAMES
from atss.layers import ModulatedDeformConv2d
from export_speed import detecting_random_weights
from timing import median_seconds

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
CONFIGS = ROOT / "configs"
ATSS_CONFIG = CONFIGS / "ATSS" / "atss_R_50_FPN_1x.py"
DCN_CONFIG = CONFIGS / "ATSS" / "atss_dcnv2_R_50_FPN_1x.py"
FCOS_CONFIG = "COCO-Detection/fcos_R_50_FPN_1x.py"  # detectron2's model zoo
ATSS, FCOS = "ATSS R-50 FPN", "FCOS R-50 FPN (detectron2)"

PASS, FAIL = "PASS", "FAIL"
DETECTION_TOLERANCE = 1e-3
ATSS_OVER_FCOS_MAX = 1.0
AMP_SPEEDUP_MIN = 1.5


@dataclass(frozen=True)
class Settings:
    height: int
    width: int
    batch: int
    step_repeats: int  # timed training steps (the median is reported)
    warmup: int  # untimed steps first
    latency_repeats: int
    train_iters: int
    shapes_images: int  # generated once, cycled through by the training run
    base_lr: float


# The official LR of 0.01 at 16 images, scaled linearly to batch 8.
FULL = Settings(800, 1333, 8, 10, 3, 20, 300, 48, 0.005)
TINY = Settings(96, 128, 2, 1, 1, 1, 4, 2, 0.005)


@dataclass
class Row:
    check: str
    measured: str
    target: str = ""
    status: str = ""  # PASS, FAIL, "skipped", "not checked" or "" for a plain measurement
    seconds: float = 0.0  # wall time the row took


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int):
    """Median time of ``fn`` including the device work it queued."""

    def call():
        fn()
        synchronize(device)

    return median_seconds(call, repeats, warmup)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a on cpu"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bounded_random_weights(model: torch.nn.Module, residual_scale: float = 0.1):
    """
    Random weights whose activations stay bounded: with frozen BatchNorm (the identity at random
    init) 16 residual branches of unit gain compound beyond float16's range; scaling each branch's
    last normalisation keeps every layer's compute and trains like any other weights.
    """
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, BottleneckBlock):
                block.conv3.norm.weight.fill_(residual_scale)
    return model


def float32_box_regression(head: torch.nn.Module, inputs, outputs):
    """
    Forward hook for detectron2's FCOS head under AMP: its float16 deltas decode (by
    Box2BoxTransformLinear) to float16 boxes, which fvcore's giou_loss cannot mix with float32
    targets ("Index put requires the source and destination dtypes match"; fvcore pull request
    114, open). Casting the box regression to float32 is what ATSS's ``decode_boxes`` does.
    """
    logits, bbox_reg, ctrness = outputs
    return logits, [x.float() for x in bbox_reg], ctrness


@contextlib.contextmanager
def without_tf32():
    """CUDA convolutions in float32 rather than TF32 (cuDNN's default, 10 mantissa bits)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def make_batch(settings: Settings, device: torch.device, num_classes: int = 80) -> List[dict]:
    """``settings.batch`` random uint8 images of height x width with 8 random boxes each."""
    g = torch.Generator().manual_seed(0)
    height, width = settings.height, settings.width
    size = torch.tensor([width, height])
    batch = []
    for _ in range(settings.batch):
        image = torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8)
        xy = torch.rand(8, 2, generator=g) * size * 0.7
        wh = (0.05 + torch.rand(8, 2, generator=g) * 0.25) * size
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(torch.cat([xy, xy + wh], dim=1))
        instances.gt_classes = torch.randint(0, num_classes, (8,), generator=g)
        batch.append({"image": image.to(device), "instances": instances.to(device)})
    return batch


class TrainStep:
    """
    One training iteration as detectron2's SimpleTrainer (float32) or AMPTrainer (float16
    autocast and a gradient scaler; bfloat16 autocast without scaler on the CPU): forward,
    backward, SGD step (momentum 0.9, weight decay 1e-4). Returns the detached total loss.
    """

    def __init__(self, model: torch.nn.Module, amp: bool, device: torch.device, lr: float):
        self.model = model.train()
        self.device = device
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
        self.amp_dtype = None
        if amp:
            self.amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None

    def __call__(self, batch: List[dict]) -> torch.Tensor:
        autocast = (
            torch.autocast(self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            losses = self.model(batch)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            self.optimizer.step()
        return total.detach()


def junit_counts(path: str) -> Dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def cuda_test_files() -> List[str]:
    """Test files that mention CUDA (the plugin then keeps the tests that skip without it)."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if "cuda" in path.read_text().lower()
    )


def cuda_tests_row(device: torch.device, settings: Settings, workdir: str) -> List[Row]:
    xml = os.path.join(workdir, "cuda_tests.xml")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCHMARKS), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "cuda_tests_plugin"]
    command += ["-p", "no:cacheprovider", f"--junitxml={xml}", *cuda_test_files()]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    check = "CUDA tests of the suite (pytest)"
    if not os.path.exists(xml):
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
        return [Row(check, f"pytest exited {proc.returncode}: {' '.join(last)}", "all pass", FAIL)]
    c = junit_counts(xml)
    measured = f"{c['tests']} tests: {c['passed']} passed, {c['failures'] + c['errors']} failed"
    measured += f", {c['skipped']} skipped"
    if device.type == "cuda":
        ok = c["tests"] > 0 and c["passed"] == c["tests"]
    else:
        ok = c["failures"] + c["errors"] == 0
        measured += " (no CUDA here)"
    return [Row(check, measured, "all pass", PASS if ok else FAIL)]


def train_step_rows(device: torch.device, settings: Settings, workdir: str) -> List[Row]:
    configs = {
        ATSS: LazyConfig.load(str(ATSS_CONFIG)).model,
        FCOS: get_config(FCOS_CONFIG).model,
    }
    batch = make_batch(settings, device)
    seconds: Dict[Tuple[str, bool], float] = {}
    rows = []
    for name, model_cfg in configs.items():
        torch.manual_seed(0)
        model = bounded_random_weights(instantiate(model_cfg)).to(device)
        if name == FCOS:
            model.head.register_forward_hook(float32_box_regression)
        measured = []
        for amp in (False, True):
            step = TrainStep(model, amp, device, settings.base_lr)
            reset_peak_memory(device)
            with EventStorage():
                seconds[name, amp] = device_seconds(
                    partial(step, batch), device, settings.step_repeats, settings.warmup
                )
            throughput = settings.batch / seconds[name, amp]
            label = "AMP" if amp else "float32"
            measured.append(f"{label} {throughput:.1f} img/s, peak {peak_memory(device)}")
        rows.append(
            Row(
                f"train step {name}, batch {settings.batch} of "
                f"{settings.height}x{settings.width}",
                "; ".join(measured),
            )
        )
        del model
        release(device)
    rows += speed_target_rows(seconds, checked=settings is FULL)
    return rows


def speed_target_rows(seconds: Dict[Tuple[str, bool], float], checked: bool) -> List[Row]:
    """
    The figure targets from the training-step times ``seconds[model, amp]``: ATSS's step at most
    1.0x FCOS's (float32 and AMP), ATSS's AMP throughput at least 1.5x its float32 throughput.
    """

    def status(ok: bool) -> str:
        return (PASS if ok else FAIL) if checked else "not checked (--tiny)"

    rows = []
    for amp, label in ((False, "float32"), (True, "AMP")):
        ratio = seconds[ATSS, amp] / seconds[FCOS, amp]
        rows.append(
            Row(
                f"ATSS / FCOS train step time, {label}",
                f"{ratio:.2f}x",
                f"<= {ATSS_OVER_FCOS_MAX:.1f}x",
                status(ratio <= ATSS_OVER_FCOS_MAX),
            )
        )
    speedup = seconds[ATSS, False] / seconds[ATSS, True]
    rows.append(
        Row(
            "ATSS AMP / float32 throughput",
            f"{speedup:.2f}x",
            f">= {AMP_SPEEDUP_MIN:.1f}x",
            status(speedup >= AMP_SPEEDUP_MIN),
        )
    )
    return rows


def to_instances(outputs: Dict[str, torch.Tensor], image_size: Tuple[int, int]) -> Instances:
    instances = Instances(image_size)
    instances.pred_boxes = Boxes(outputs["boxes"].float().cpu())
    instances.scores = outputs["scores"].float().cpu()
    instances.pred_classes = outputs["classes"].long().cpu()
    return instances


def compare_detections(a: Instances, b: Instances, tolerance: float = DETECTION_TOLERANCE):
    """
    Match each detection of ``a`` to one of ``b`` of the same class whose box coordinates
    (|x - y| / max(|y|, 1)) and score (relative) are within ``tolerance``, in any order: scores
    closer than float rounding may swap places between devices.

    Returns:
        (number of detections of ``a`` with a twin in ``b``, largest difference of a detection
        of ``a`` to its closest same-class detection of ``b``).
    """
    a, b = a.to("cpu"), b.to("cpu")
    if len(a) == 0 or len(b) == 0:
        return 0, 0.0 if len(a) == len(b) else math.inf
    a_boxes, b_boxes = a.pred_boxes.tensor.double(), b.pred_boxes.tensor.double()
    box_diff = (a_boxes[:, None] - b_boxes[None]).abs() / b_boxes[None].abs().clamp(min=1.0)
    box_diff = box_diff.amax(dim=-1)
    b_scores = b.scores.double()[None]
    score_diff = (a.scores.double()[:, None] - b_scores).abs() / b_scores.clamp(min=1e-12)
    diff = torch.maximum(box_diff, score_diff)
    diff[a.pred_classes[:, None] != b.pred_classes[None]] = math.inf
    closest = diff.amin(dim=1)
    return int((closest <= tolerance).sum()), closest.max().item()


def inference_rows(device: torch.device, settings: Settings, workdir: str) -> List[Row]:
    torch.manual_seed(0)
    model = instantiate(LazyConfig.load(str(ATSS_CONFIG)).model)
    model = plain_module_attributes(detecting_random_weights(model)).to(device).eval()
    g = torch.Generator().manual_seed(0)
    image = (torch.rand(3, settings.height, settings.width, generator=g) * 255).to(device)
    size = (settings.height, settings.width)
    repeats = settings.latency_repeats

    def eager():
        with torch.no_grad():
            return model([{"image": image}])[0]["instances"]

    reference = eager()
    rows = []
    latency = device_seconds(eager, device, repeats, warmup=2)
    rows.append(Row("inference batch 1, eager", f"{latency * 1e3:.1f} ms"))

    out_dir = os.path.join(workdir, "torchscript")
    os.makedirs(out_dir)
    traced = torch.jit.load(export_tracing(model, image, "torchscript", out_dir), device)

    def scripted():
        with torch.no_grad():
            return dict(zip(OUTPUT_NAMES, traced(image)))

    same, _ = compare_detections(to_instances(scripted(), size), reference)
    latency = device_seconds(scripted, device, repeats, warmup=2)
    rows.append(
        Row(
            "inference batch 1, TorchScript (traced)",
            f"{latency * 1e3:.1f} ms; {same} of {len(reference)} detections as eager",
        )
    )
    rows.append(onnx_runtime_row(model, image, device, reference, repeats, workdir))
    return rows


def onnx_runtime_row(model, image, device, reference, repeats, workdir) -> Row:
    provider = "CUDAExecutionProvider" if device.type == "cuda" else "CPUExecutionProvider"
    check = f"inference batch 1, ONNX Runtime {provider}"
    try:
        import onnxruntime
    except ImportError:
        return Row(check, "onnxruntime not installed (the [export] extra)", status="skipped")
    if provider not in onnxruntime.get_available_providers():
        return Row(
            check,
            f"not in this onnxruntime ({onnxruntime.__version__}; onnxruntime-gpu has it)",
            status="skipped",
        )
    out_dir = os.path.join(workdir, "onnx")
    os.makedirs(out_dir)
    # Exported from a CPU copy: the file is the same for every provider.
    path = export_tracing(copy.deepcopy(model).cpu(), image.cpu(), "onnx", out_dir)
    session = onnxruntime.InferenceSession(path, providers=[provider])
    if provider not in session.get_providers():
        return Row(check, f"{provider} failed to load (CUDA/cuDNN versions?)", status="skipped")
    array = image.cpu().numpy()

    def run():
        outputs = session.run(None, {"image": array})
        return {name: torch.from_numpy(x) for name, x in zip(OUTPUT_NAMES, outputs)}

    same, _ = compare_detections(to_instances(run(), tuple(image.shape[-2:])), reference)
    latency = device_seconds(run, torch.device("cpu"), repeats, warmup=2)
    return Row(
        check,
        f"{latency * 1e3:.1f} ms (image from host memory); "
        f"{same} of {len(reference)} detections as eager",
    )


def dcn_random_weights(model: torch.nn.Module) -> torch.nn.Module:
    """
    Random weights under which the deformable convolutions matter: residual branches scaled
    down (not zeroed: the backbone's deformable convs are in them), offsets and masks of
    about a pixel rather than DCNv2's zero start, and a class bias at probability 0.12 so that
    candidates pass the score threshold.
    """
    bounded_random_weights(model)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ModulatedDeformConv2d):
                torch.nn.init.normal_(module.conv_offset.weight, std=0.01)
        torch.nn.init.constant_(model.head.cls_score.bias, -2.0)
    return model


def dcn_rows(device: torch.device, settings: Settings, workdir: str) -> List[Row]:
    torch.manual_seed(0)
    model = dcn_random_weights(instantiate(LazyConfig.load(str(DCN_CONFIG)).model)).eval()
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, settings.height, settings.width, generator=g) * 255
    with torch.no_grad(), without_tf32():
        cpu = model([{"image": image}])[0]["instances"]
        model.to(device)
        on_device = model([{"image": image.to(device)}])[0]["instances"].to("cpu")
    same, worst = compare_detections(on_device, cpu)
    ok = len(cpu) > 0 and len(on_device) == len(cpu) and same == len(cpu)
    del model
    release(device)
    return [
        Row(
            f"ATSS dcnv2 R-50 FPN, {device.type} (TF32 off) vs cpu, "
            f"{settings.height}x{settings.width}",
            f"{len(on_device)} vs {len(cpu)} detections, {same} within {DETECTION_TOLERANCE:g} "
            f"(largest difference {worst:.1e})",
            f"same detections within {DETECTION_TOLERANCE:g}",
            PASS if ok else FAIL,
        )
    ]


def load_shapes(split_dir: str, device: torch.device) -> List[dict]:
    """A generated shapes split as model inputs (BGR uint8 images and boxes) on ``device``."""
    with open(os.path.join(split_dir, "annotations.json")) as f:
        dataset = json.load(f)
    objects: Dict[int, List[dict]] = {}
    for annotation in dataset["annotations"]:
        objects.setdefault(annotation["image_id"], []).append(annotation)
    inputs = []
    for image_info in dataset["images"]:
        image = cv2.imread(os.path.join(split_dir, "images", image_info["file_name"]))
        height, width = image.shape[:2]
        boxes = torch.tensor(
            [a["bbox"] for a in objects.get(image_info["id"], [])], dtype=torch.float32
        ).reshape(-1, 4)
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1))
        instances.gt_classes = torch.tensor(
            [a["category_id"] - 1 for a in objects.get(image_info["id"], [])], dtype=torch.long
        )
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        inputs.append({"image": tensor.to(device), "instances": instances.to(device)})
    return inputs


def shapes_training_rows(device: torch.device, settings: Settings, workdir: str) -> List[Row]:
    split_dir = os.path.join(workdir, "shapes")
    spec = ShapesSpec(
        num_images=settings.shapes_images,
        seed=0,
        min_image_side=settings.height,
        max_image_side=settings.width,
    )
    generate_shapes(split_dir, spec)
    dataset = load_shapes(split_dir, device)
    model_cfg = LazyConfig.load(str(ATSS_CONFIG)).model
    model_cfg.num_classes = len(SHAPES_CLASSES)
    torch.manual_seed(0)
    model = bounded_random_weights(instantiate(model_cfg)).to(device)
    step = TrainStep(model, amp=True, device=device, lr=settings.base_lr)
    warmup_iters = max(1, settings.train_iters // 3)
    losses, times = [], []
    with EventStorage():
        for i in range(settings.train_iters):
            start_index = i * settings.batch
            batch = [dataset[(start_index + k) % len(dataset)] for k in range(settings.batch)]
            # Linear warmup, as detectron2's WarmupParamScheduler.
            for group in step.optimizer.param_groups:
                group["lr"] = settings.base_lr * min(1.0, (i + 1) / warmup_iters)
            start = time.perf_counter()
            loss = step(batch)
            synchronize(device)
            times.append(time.perf_counter() - start)
            losses.append(loss.item())
    del model, step, dataset
    release(device)
    window = max(1, settings.train_iters // 10)
    first, last = statistics.mean(losses[:window]), statistics.mean(losses[-window:])
    finite = all(math.isfinite(x) for x in losses)
    decreasing = last < first
    if settings is FULL:
        status = PASS if finite and decreasing else FAIL
    else:
        status = PASS if finite else FAIL  # a few iterations: only finiteness is checked
    per_iter = statistics.median(times[window:] or times)
    return [
        Row(
            f"AMP training of ATSS R-50 FPN, {settings.train_iters} iterations of batch "
            f"{settings.batch}, shapes {settings.height}-{settings.width} px",
            f"loss {first:.3f} -> {last:.3f} (mean of first / last {window}), "
            f"{'all finite' if finite else 'NOT FINITE'}; {per_iter * 1e3:.0f} ms/iter",
            "finite, decreasing" if settings is FULL else "finite (decrease not checked)",
            status,
        )
    ]


SECTIONS = {
    "CUDA tests": cuda_tests_row,
    "training step": train_step_rows,
    "inference latency": inference_rows,
    "DCNv2 against the CPU": dcn_rows,
    "AMP training": shapes_training_rows,
}


def format_table(rows: List[Row]) -> str:
    lines = ["| check | measured | target | status | time (s) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.check} | {r.measured} | {r.target} | {r.status} | {r.seconds:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny images, batch and iterations")
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), help="run these sections only"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing measured")
        return 1
    device = torch.device(args.device)
    settings = TINY if args.tiny else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    start = time.perf_counter()
    rows: List[Row] = []
    with tempfile.TemporaryDirectory() as workdir:
        for section, run in SECTIONS.items():
            if args.only and section not in args.only:
                continue
            section_start = time.perf_counter()
            section_dir = os.path.join(workdir, section.replace(" ", "_"))
            os.makedirs(section_dir)
            try:
                section_rows = run(device, settings, section_dir)
            except Exception as e:  # report it in the table and go on with the other sections
                traceback.print_exc()
                section_rows = [Row(section, f"error: {type(e).__name__}: {e}", status=FAIL)]
            release(device)
            section_rows[0].seconds = time.perf_counter() - section_start
            rows += section_rows
    print(
        f"\nGPU check on {name}, torch {torch.__version__}, "
        f"{'--tiny' if args.tiny else 'full size'}, {time.perf_counter() - start:.0f} s in all:"
    )
    print(format_table(rows))
    return 1 if any(r.status == FAIL for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
