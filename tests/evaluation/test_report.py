"""
The evaluation report checked against a case computed by hand: three images, three classes.

    image 1: a cat A and a dog B. Detections: cat on A (0.9), cat on B (0.7).
    image 2: a bird C and a cat D. Detections: dog where nothing is (0.8), cat on D (0.3).
    image 3: no object. Detection: cat (0.4).

The bird class has no detection, image 3 no object. Per class at IoU 0.5, by decreasing score:
cat: TP (0.9), FP (0.7, B is a dog), FP (0.4), TP (0.3) of 2 objects; dog: FP (0.8) of 1; bird:
nothing of 1. Over all classes (4 objects), keeping the detections with score >= t:

    t <= 0.3        TP 2, FP 3: precision 0.4,  recall 0.5,  F1 4/9
    0.3 < t <= 0.4  TP 1, FP 3: precision 0.25, recall 0.25, F1 0.25
    0.4 < t <= 0.7  TP 1, FP 2: precision 1/3,  recall 0.25, F1 2/7
    0.7 < t <= 0.8  TP 1, FP 1: precision 0.5,  recall 0.25, F1 1/3
    0.8 < t <= 0.9  TP 1, FP 0: precision 1,    recall 0.25, F1 0.4
    t > 0.9         nothing:    precision 1,    recall 0,    F1 0

F1 is highest (4/9) on 0.00..0.30: the recommended threshold is the median, 0.15.
"""

import contextlib
import io
import json
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from atss.evaluation import THRESHOLDS, confusion_matrix, evaluation_report, match_detections

CLASSES = ["cat", "dog", "bird"]
CAT, DOG, BIRD, BACKGROUND = 0, 1, 2, 3
A, B, C, D = [0, 0, 10, 10], [50, 50, 10, 10], [20, 20, 10, 10], [60, 60, 10, 10]
OBJECTS = [(1, A, 1), (1, B, 2), (2, C, 3), (2, D, 1)]  # (image, xywh, category id)
DETECTIONS = [
    (1, A, 1, 0.9),
    (1, B, 1, 0.7),
    (2, [0, 0, 10, 10], 2, 0.8),
    (2, D, 1, 0.3),
    (3, [5, 5, 10, 10], 1, 0.4),
]


@pytest.fixture(scope="module")
def coco_eval() -> COCOeval:
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i, "width": 100, "height": 100} for i in (1, 2, 3)],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)],
        "annotations": [
            {"id": n + 1, "image_id": i, "bbox": b, "category_id": c, "area": b[2] * b[3],
             "iscrowd": 0}
            for n, (i, b, c) in enumerate(OBJECTS)
        ],  # fmt: skip
    }
    gt.createIndex()
    dt = gt.loadRes(
        [{"image_id": i, "bbox": b, "category_id": c, "score": s} for i, b, c, s in DETECTIONS]
    )
    evaluation = COCOeval(gt, dt, "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.summarize()
    return evaluation


@pytest.fixture(scope="module")
def report(coco_eval):
    return evaluation_report(coco_eval, CLASSES, dataset="hand", iteration=9)


def at(t: float) -> int:
    return int(np.flatnonzero(np.isclose(THRESHOLDS, t))[0])


def test_each_detection_keeps_the_match_of_pycocotools(coco_eval):
    matches = match_detections(coco_eval)
    matched = {float(s): m >= 0 for s, m in zip(matches.det_scores, matches.det_match)}
    assert matched == {0.9: True, 0.7: False, 0.8: False, 0.3: True, 0.4: False}
    assert sorted(matches.gt_class.tolist()) == [CAT, CAT, DOG, BIRD]


@pytest.mark.parametrize(
    "t, tp, fp, precision, recall, f1",
    [
        (0.0, 2, 3, 0.4, 0.5, 4 / 9),
        (0.3, 2, 3, 0.4, 0.5, 4 / 9),
        (0.35, 1, 3, 0.25, 0.25, 0.25),
        (0.5, 1, 2, 1 / 3, 0.25, 2 / 7),
        (0.75, 1, 1, 0.5, 0.25, 1 / 3),
        (0.9, 1, 0, 1.0, 0.25, 0.4),
        (0.95, 0, 0, 1.0, 0.0, 0.0),
    ],
)
def test_overall_precision_recall_and_f1_against_the_threshold(
    report, t, tp, fp, precision, recall, f1
):
    curves, j = report.thresholds, at(t)
    assert (curves.tp[:, j].sum(), curves.fp[:, j].sum()) == (tp, fp)
    assert curves.overall_precision[j] == pytest.approx(precision)
    assert curves.overall_recall[j] == pytest.approx(recall)
    assert curves.overall_f1[j] == pytest.approx(f1)


def test_per_class_curves_include_the_class_without_detections(report):
    curves, j = report.thresholds, at(0.3)
    assert curves.num_gt.tolist() == [2, 1, 1]
    assert curves.tp[:, j].tolist() == [2, 0, 0] and curves.fp[:, j].tolist() == [2, 1, 0]
    assert curves.precision[:, j] == pytest.approx([0.5, 0.0, 1.0])  # bird: nothing kept
    assert curves.recall[:, j] == pytest.approx([1.0, 0.0, 0.0])
    assert curves.f1[:, j] == pytest.approx([2 / 3, 0.0, 0.0])


def test_the_recommended_threshold_is_the_middle_of_the_best_f1(report):
    assert report.recommended == pytest.approx(0.15)
    assert report.at_recommended() == pytest.approx(
        {"score_threshold": 0.15, "f1": 4 / 9, "precision": 0.4, "recall": 0.5}
    )


def test_the_confusion_matrix_counts_confusions_misses_and_false_detections(report):
    expected = np.zeros((4, 4), dtype=int)
    expected[CAT, CAT] = 2  # A and D found
    expected[DOG, CAT] = 1  # B taken for a cat
    expected[BIRD, BACKGROUND] = 1  # C missed
    expected[BACKGROUND, DOG] = 1  # a dog where nothing is (image 2)
    expected[BACKGROUND, CAT] = 1  # a cat on the image without objects
    assert report.confusion.tolist() == expected.tolist()


def test_the_confusion_matrix_at_a_higher_threshold_drops_the_lower_detections(coco_eval):
    counts = confusion_matrix(match_detections(coco_eval), 0.75)
    expected = np.zeros((4, 4), dtype=int)
    expected[CAT, CAT] = 1  # A (0.9)
    expected[CAT, BACKGROUND] = 1  # D: its detection (0.3) is dropped
    expected[DOG, BACKGROUND] = 1  # B: the cat on it (0.7) is dropped
    expected[BIRD, BACKGROUND] = 1
    expected[BACKGROUND, DOG] = 1  # 0.8
    assert counts.tolist() == expected.tolist()


def test_pr_curves_are_cocoeval_s_interpolated_precision(report):
    pr = report.pr
    # cat: recall 0.5 at precision 1, then 1.0 at precision 0.5 (4 detections, 2 true).
    assert pr.per_class_50[CAT, :51] == pytest.approx(1.0)
    assert pr.per_class_50[CAT, 51:] == pytest.approx(0.5)
    assert pr.per_class_50[DOG] == pytest.approx(0.0) and pr.per_class_50[BIRD] == pytest.approx(0)
    # Exact boxes match at every IoU.
    assert pr.per_class_mean[CAT] == pytest.approx(pr.per_class_50[CAT])
    assert pr.all_50 == pytest.approx(pr.per_class_50.mean(axis=0))


def test_the_ap_table_gives_each_class_its_ap_by_size(report, coco_eval):
    rows = report.ap.rows()
    cat_ap = (51 * 1.0 + 50 * 0.5) / 101 * 100
    assert rows["cat"]["AP"] == pytest.approx(cat_ap)
    assert rows["cat"]["AP50"] == pytest.approx(cat_ap)
    assert rows["cat"]["APs"] == pytest.approx(cat_ap)  # 10x10 boxes are small
    assert rows["cat"]["APm"] is None and rows["cat"]["APl"] is None
    assert rows["dog"]["AP"] == 0.0 and rows["bird"]["AP"] == 0.0
    # The mean over classes is COCOeval's own AP.
    assert np.mean([r["AP"] for r in rows.values()]) == pytest.approx(coco_eval.stats[0] * 100)


def test_the_json_holds_every_part_without_nan(report):
    data = report.as_json()
    text = json.dumps(data, allow_nan=False)
    assert data["recommended_threshold"]["score_threshold"] == 0.15
    assert data["confusion_matrix"]["labels"] == CLASSES + ["background"]
    assert data["pr_curves"]["iou_0.5"]["cat"][0] == 1.0
    assert "NaN" not in text
