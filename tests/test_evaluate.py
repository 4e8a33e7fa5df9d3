"""evaluate_detections against pycocotools' COCOeval and hand-computed cases; the source-pixel helpers on real JPEGs."""

import contextlib
import io

import numpy as np
import pytest

import seqloaders as sl
from seqloaders.evaluate import box_overlaps, to_source_pixels

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


# ------------------------------------------------------------------------------- pycocotools side
def coco_reference(samples, predictions, *, ignore_attr=None, max_detections=100):
    """COCOeval's bbox numbers for the same data: (ap, ap50, ap75, ar, ar50, per-class ap by label).

    Boxes marked ignored (not crowd) get area -1, outside COCO's "all" area range [0, 1e10]: COCOeval
    then ignores them exactly as evaluate_detections' ``ignore=`` does (its own ``ignore`` field is
    overwritten by ``iscrowd``).
    """
    labels = sorted({int(v) for s in samples for v in s.labels} | {int(v) for p in predictions for v in p["labels"]})
    images, annotations, results = [], [], []
    for i, (sample, pred) in enumerate(zip(samples, predictions)):
        images.append({"id": i + 1, "width": 1000, "height": 1000})
        crowd = sample.attributes.get("iscrowd", np.zeros(sample.num_boxes))
        ignored = sample.attributes.get(ignore_attr, np.zeros(sample.num_boxes)) if ignore_attr else \
            np.zeros(sample.num_boxes)
        for box, label, c, ig in zip(sample.boxes.astype(float), sample.labels, crowd, ignored):
            x0, y0, x1, y1 = box.tolist()
            area = -1.0 if ig and not c else (x1 - x0) * (y1 - y0)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": area, "iscrowd": int(c)})
        for box, score, label in zip(np.asarray(pred["boxes"], float), pred["scores"], pred["labels"]):
            x0, y0, x1, y1 = box.tolist()
            results.append({"image_id": i + 1, "category_id": int(label) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": k + 1, "name": str(k)} for k in labels]}
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = [max_detections]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, 0]  # (T, R, K)
    recall = ev.eval["recall"][:, :, 0, 0]  # (T, K)

    def mean(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else float("nan")

    per_class = {label: mean(precision[:, :, k]) for k, label in enumerate(labels)}
    return (mean(precision), mean(precision[0]), mean(precision[5]), mean(recall), mean(recall[0]), per_class)


def generated_case(seed, *, num_images=30, num_classes=3, crowd_rate=0.1, ignore_rate=0.1, many=False):
    """Random ground truth and predictions: jittered hits, misses, false positives, wrong classes,
    empty images, images without predictions, crowd and ignored boxes, and (``many``) an image with
    more than 100 detections of one class."""
    rng = np.random.default_rng(seed)
    samples, predictions = [], []
    for i in range(num_images):
        n = 0 if i % 7 == 3 else int(rng.integers(1, 8))
        xy = rng.uniform(0, 400, (n, 2))
        wh = rng.uniform(8, 120, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = rng.integers(0, num_classes, n)
        crowd = (rng.random(n) < crowd_rate).astype(np.int32)
        invalid = ((rng.random(n) < ignore_rate) & (crowd == 0)).astype(np.int32)
        samples.append(sl.Sample(f"img{i}.jpg", boxes=boxes, labels=labels,
                                 attributes={"iscrowd": crowd, "invalid": invalid}))
        p_boxes, p_labels = [], []
        if i % 11 != 5:  # some images get no prediction at all
            for box, label in zip(boxes, labels):
                if rng.random() < 0.2:  # a miss
                    continue
                for _ in range(1 + int(rng.random() < 0.3)):  # sometimes a duplicate
                    jitter = rng.normal(0, 0.12, 4) * np.r_[box[2:] - box[:2], box[2:] - box[:2]]
                    p_boxes.append(box + jitter)
                    p_labels.append(label if rng.random() > 0.1 else rng.integers(0, num_classes))
            for _ in range(int(rng.integers(0, 5))):  # false positives
                x, y = rng.uniform(0, 450, 2)
                p_boxes.append([x, y, x + rng.uniform(5, 100), y + rng.uniform(5, 100)])
                p_labels.append(rng.integers(0, num_classes))
        if many and i == 1:
            for _ in range(130):
                x, y = rng.uniform(0, 450, 2)
                p_boxes.append([x, y, x + rng.uniform(5, 100), y + rng.uniform(5, 100)])
                p_labels.append(0)
        k = len(p_boxes)
        predictions.append({"boxes": np.asarray(p_boxes, np.float64).reshape(k, 4), "scores": rng.random(k),
                            "labels": np.asarray(p_labels, np.int64).reshape(k)})
    return samples, predictions


def assert_same_as_coco(samples, predictions, *, ignore=None, max_detections=100):
    report = sl.evaluate_detections(samples, predictions, ignore=ignore, max_detections=max_detections)
    ap, ap50, ap75, ar, ar50, per_class = coco_reference(samples, predictions, ignore_attr=ignore,
                                                         max_detections=max_detections)
    np.testing.assert_allclose([report.ap, report.ap50, report.ap75, report.ar, report.ar50],
                               [ap, ap50, ap75, ar, ar50], atol=1e-3)
    assert report.per_class.keys() == per_class.keys()
    for label, value in per_class.items():
        np.testing.assert_allclose(report.per_class[label].ap, value, atol=1e-3, equal_nan=True)
    return report


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_cocoeval_on_generated_cases(seed):
    samples, predictions = generated_case(seed)
    report = assert_same_as_coco(samples, predictions)
    assert 0.05 < report.ap50 < 0.99 and len(report.per_class) == 3


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_cocoeval_with_ignored_boxes(seed):
    samples, predictions = generated_case(100 + seed, ignore_rate=0.25)
    with_ignore = assert_same_as_coco(samples, predictions, ignore="invalid")
    counted = assert_same_as_coco(samples, predictions)
    assert with_ignore.num_ignored > counted.num_ignored  # invalid boxes join the crowd boxes
    assert with_ignore.num_objects < counted.num_objects


@pytest.mark.parametrize("max_detections", [100, 10, 3])
def test_agrees_with_cocoeval_beyond_max_detections(max_detections):
    samples, predictions = generated_case(7, many=True, crowd_rate=0.2)
    assert max(len(p["scores"]) for p in predictions) > 100
    assert_same_as_coco(samples, predictions, max_detections=max_detections)


def test_agrees_with_cocoeval_with_many_crowd_boxes_and_one_class():
    samples, predictions = generated_case(11, num_classes=1, crowd_rate=0.4, num_images=20)
    assert_same_as_coco(samples, predictions)


# ------------------------------------------------------------------------------ hand-computed
def one_image(gt_boxes, det_boxes, scores, *, gt_labels=None, det_labels=None, attributes=None):
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    sample = sl.Sample("a.jpg", boxes=gt_boxes, labels=np.zeros(len(gt_boxes)) if gt_labels is None else gt_labels,
                       attributes=attributes or {})
    det_boxes = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    pred = {"boxes": det_boxes, "scores": np.asarray(scores, np.float64),
            "labels": np.zeros(len(det_boxes), np.int64) if det_labels is None else np.asarray(det_labels)}
    return [sample], [pred]


def test_perfect_detections_score_one():
    samples, preds = one_image([[0, 0, 10, 10], [20, 20, 40, 50]], [[0, 0, 10, 10], [20, 20, 40, 50]], [0.9, 0.3])
    report = sl.evaluate_detections(samples, preds)
    assert (report.ap, report.ap50, report.ar, report.ar50) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert report.num_objects == 2 and report.num_detections == 2


def test_a_false_positive_between_two_hits():
    # scores 0.9 hit, 0.8 miss, 0.7 hit: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; interpolated:
    # 1 for the 51 recall points up to 0.5, 2/3 for the 50 above
    samples, preds = one_image([[0, 0, 10, 10], [20, 20, 40, 40]],
                               [[0, 0, 10, 10], [100, 100, 110, 110], [20, 20, 40, 40]], [0.9, 0.8, 0.7])
    report = sl.evaluate_detections(samples, preds)
    assert report.ap50 == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert report.ar50 == 1.0


def test_iou_threshold_is_inclusive_and_ap_averages_thresholds():
    # the detection covers 3/4 of the box: IoU 0.75 counts at 0.50..0.75 (6 of 10 thresholds)
    samples, preds = one_image([[0, 0, 100, 100]], [[0, 0, 100, 75]], [0.5])
    report = sl.evaluate_detections(samples, preds)
    assert report.ap50 == pytest.approx(1.0) and report.ap75 == pytest.approx(1.0)
    assert report.ap == pytest.approx(0.6) and report.ar == pytest.approx(0.6)


def test_a_crowd_box_absorbs_every_detection_inside_it():
    crowd = {"iscrowd": np.array([0, 1])}
    samples, preds = one_image([[0, 0, 10, 10], [100, 100, 300, 300]],
                               [[110, 110, 130, 130], [0, 0, 10, 10], [200, 200, 220, 240], [150, 100, 180, 120]],
                               [0.95, 0.9, 0.85, 0.8], attributes=crowd)
    report = sl.evaluate_detections(samples, preds)
    assert report.ap == pytest.approx(1.0)  # the three detections in the crowd are neither hits nor misses
    assert (report.num_objects, report.num_ignored) == (1, 1)
    # without the crowd rule they are false positives ranked above the hit
    plain = sl.evaluate_detections(samples, preds, crowd=None)
    assert plain.num_objects == 2 and plain.ap50 < 0.5


def test_ignored_boxes_are_matched_once_and_not_counted():
    invalid = {"invalid": np.array([0, 1])}
    samples, preds = one_image([[0, 0, 10, 10], [50, 50, 70, 70]],
                               [[50, 50, 70, 70], [50, 50, 70, 71], [0, 0, 10, 10]], [0.9, 0.8, 0.7],
                               attributes=invalid)
    counted = sl.evaluate_detections(samples, preds)
    ignored = sl.evaluate_detections(samples, preds, ignore="invalid")
    assert counted.num_objects == 2 and ignored.num_objects == 1
    # ignored: the first detection takes the invalid box (not counted), the second is a duplicate of
    # it (an ignored non-crowd box matches once): precision 1/2 at recall 1
    assert ignored.ap50 == pytest.approx(0.5, abs=1e-3)
    by_function = sl.evaluate_detections(samples, preds, ignore=lambda s: s.attributes["invalid"] == 1)
    assert by_function.ap50 == ignored.ap50


def test_a_detection_prefers_a_counted_box_over_an_ignored_one():
    invalid = {"invalid": np.array([1, 0])}
    # overlaps the ignored box fully (IoU 1) and the counted one at IoU 0.6
    samples, preds = one_image([[0, 0, 100, 100], [0, 0, 100, 60]], [[0, 0, 100, 100]], [0.9], attributes=invalid)
    report = sl.evaluate_detections(samples, preds, ignore="invalid")
    assert report.ap50 == pytest.approx(1.0) and report.ap75 == 0.0


def test_max_detections_keeps_the_highest_scores_per_image():
    boxes = [[0, 0, 10, 10]] + [[500 + i, 500, 510 + i, 510] for i in range(100)]
    scores = [0.01] + [0.5 + i / 1000 for i in range(100)]  # the hit is the 101st by score
    samples, preds = one_image([[0, 0, 10, 10]], boxes, scores)
    assert sl.evaluate_detections(samples, preds).ar50 == 0.0
    assert sl.evaluate_detections(samples, preds, max_detections=101).ar50 == 1.0


def test_classes_without_objects_are_left_out_of_the_mean():
    samples, preds = one_image([[0, 0, 10, 10]], [[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], det_labels=[0, 2])
    report = sl.evaluate_detections(samples, preds, class_names=["face", "hand", "foot"])
    assert report.ap == pytest.approx(1.0)
    assert sorted(report.per_class) == [0, 1, 2]
    assert np.isnan(report.per_class[1].ap) and np.isnan(report.per_class[2].ap)
    assert report.per_class[2].num_detections == 1 and report.per_class[0].name == "face"
    text = report.summary()
    assert "AP50 @[IoU=0.50]      = 1.000" in text and "foot" in text
    assert repr(report).startswith("DetectionReport(ap50=1.000, ap=1.000")


def test_empty_images_and_no_detections():
    samples = [sl.Sample("a.jpg"), sl.Sample("b.jpg", boxes=[[0, 0, 5, 5]], labels=[0])]
    preds = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}, {"boxes": [], "scores": [], "labels": []}]
    report = sl.evaluate_detections(samples, preds)
    assert report.ap == 0.0 and report.ar == 0.0 and report.num_objects == 1
    nothing = sl.evaluate_detections([sl.Sample("a.jpg")], [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}])
    assert np.isnan(nothing.ap) and "0 objects" in nothing.summary()


def test_tuples_from_an_encoder_decode_are_accepted():
    samples, preds = one_image([[0, 0, 10, 10]], [[0, 0, 10, 10]], [0.9])
    as_tuple = [(preds[0]["boxes"], preds[0]["scores"], preds[0]["labels"])]
    assert sl.evaluate_detections(samples, as_tuple).ap == pytest.approx(1.0)


def test_bad_predictions_name_the_entry_and_its_image():
    samples, preds = one_image([[0, 0, 10, 10]], [[0, 0, 10, 10]], [0.9])
    with pytest.raises(ValueError, match="one entry per sample: got 2 for 1"):
        sl.evaluate_detections(samples, preds * 2)
    with pytest.raises(ValueError, match=r"predictions\[0\] \(for 'a.jpg'\): 'boxes' must have shape \(K, 4\)"):
        sl.evaluate_detections(samples, [{"boxes": np.zeros(4), "scores": np.zeros(1)}])
    with pytest.raises(ValueError, match=r"'scores' must have shape \(1,\)"):
        sl.evaluate_detections(samples, [{"boxes": np.zeros((1, 4)), "scores": np.zeros(2)}])
    with pytest.raises(ValueError, match="missing 'scores'"):
        sl.evaluate_detections(samples, [{"boxes": np.zeros((1, 4))}])
    with pytest.raises(ValueError, match="iou_thresholds"):
        sl.evaluate_detections(samples, preds, iou_thresholds=[1.5])


def test_box_overlaps_crowd_uses_the_detection_area():
    det = np.array([[0, 0, 10, 10]])
    gt = np.array([[0, 0, 10, 20], [0, 0, 5, 5]])
    np.testing.assert_allclose(box_overlaps(det, gt), [[0.5, 0.25]])
    np.testing.assert_allclose(box_overlaps(det, gt, np.array([True, True])), [[1.0, 0.25]])


# ---------------------------------------------------------------- model output → source pixels
def test_to_source_pixels_undoes_a_letterbox_and_clips():
    # a 100x200 source letterboxed into 64x64: scale 0.32, 16 rows of padding on top
    boxes = to_source_pixels(np.array([[0, 16, 32, 32], [-5, 0, 70, 70]]), (100, 200), (0.32, 0.32), (16, 0))
    np.testing.assert_allclose(boxes, [[0, 0, 100, 50], [0, 0, 200, 100]], atol=1e-4)


class Oracle:
    """A "model" that answers each batch with the Sequence's own targets for it (a perfect detector)."""

    def __init__(self, seq):
        self.answers = {}
        for i in range(len(seq)):
            x, y = seq[i]
            self.answers[x.tobytes()] = y

    def predict_on_batch(self, x):
        return self.answers[np.asarray(x).tobytes()]


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_predictions_come_back_in_source_pixels_of_real_jpegs(tmp_path, resize):
    toy = sl.make_toy_dataset(tmp_path, num_images=10, seed=5)  # sizes vary around 240x320: odd sizes, reduced decode
    seq = sl.DetectionSequence(toy.samples, batch_size=4, image_size=(96, 128), resize=resize,
                               encoder=sl.PaddedBoxEncoder(max_boxes=8), shuffle=True, seed=1)
    assert not np.array_equal(seq.permutation(), np.arange(10))  # alignment must go through the shuffling
    predictions = sl.predict_detections(Oracle(seq), seq)
    assert len(predictions) == len(toy.samples)
    for sample, pred in zip(toy.samples, predictions):
        assert pred["boxes"].dtype == np.float32 and pred["labels"].dtype == np.int64
        np.testing.assert_allclose(pred["boxes"], sample.boxes, atol=1e-3)  # the padded encoder keeps the order
    report = sl.evaluate_detections(toy.samples, predictions)
    assert report.ap == pytest.approx(1.0) and report.num_objects == sum(s.num_boxes for s in toy.samples)


def test_grid_outputs_of_one_batch_decode_to_source_boxes(tmp_path):
    toy = sl.make_toy_dataset(tmp_path, num_images=6, seed=2)
    seq = sl.DetectionSequence(toy.samples, batch_size=3, image_size=(128, 128), resize="letterbox",
                               encoder=sl.GridEncoder(grid_size=8), shuffle=False)
    _, y = seq[1]
    predictions = sl.decode_predictions(seq, y, 1)
    assert len(predictions) == 3
    for sample, pred in zip(toy.samples[3:], predictions):
        overlaps = box_overlaps(sample.boxes, pred["boxes"])
        assert pred["scores"].tolist() == [1.0] * len(pred["scores"])
        assert (overlaps.max(axis=1) > 0.999).sum() == len(pred["boxes"])  # each decoded box is a source box
    # noisy grids: the threshold keeps the confident cells only, NMS removes duplicates
    noisy = y.copy()
    noisy[..., 0] = np.where(noisy[..., 0] > 0, 0.9, 0.01)
    assert all(len(p["boxes"]) == 0 for p in sl.decode_predictions(seq, noisy * 0, 1, threshold=0.05))
    kept = sl.decode_predictions(seq, noisy, 1, threshold=0.05, nms_iou=0.5)
    assert [len(p["boxes"]) for p in kept] == [len(p["boxes"]) for p in predictions]


def test_a_sequence_that_cannot_be_evaluated_says_why(tmp_path):
    toy = sl.make_toy_dataset(tmp_path, num_images=5, seed=2)
    encoder = sl.GridEncoder(grid_size=4)
    augmenting = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(64, 64), encoder=encoder,
                                      augment="detection")
    with pytest.raises(ValueError, match="augment=None"):
        sl.decode_predictions(augmenting, np.zeros((2, 4, 4, 5)), 0)
    dropping = sl.DetectionSequence(toy.samples, batch_size=2, image_size=(64, 64), encoder=encoder,
                                    drop_remainder=True, shuffle=False)
    with pytest.raises(ValueError, match="1 of 5 samples are in no batch"):
        sl.predict_detections(Oracle(dropping), dropping)
    with pytest.raises(TypeError, match="expected a seqloaders DetectionSequence"):
        sl.decode_predictions(toy.samples, np.zeros((2, 4, 4, 5)), 0)


@pytest.mark.slow
def test_the_demo_script_trains_evaluates_and_draws(tmp_path):
    import os
    import subprocess
    import sys

    # in a process of its own: the demo seeds everything and turns on TensorFlow's op determinism
    script = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "train_face_detector.py")
    done = subprocess.run([sys.executable, script, "--toy", "--out", str(tmp_path), "--num-images", "16",
                           "--num-val", "8", "--epochs", "1", "--batch-size", "8"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "AP50 on the held-out set: " in done.stdout and "every held-out face counted" in done.stdout
    assert os.path.getsize(tmp_path / "predictions.png") > 1000
