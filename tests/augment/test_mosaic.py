"""Multi-image augmentation (seqloaders/augment/mosaic.py): mosaic, MixUp, copy-paste, the yolo preset."""

import cv2
import numpy as np
import pytest

import seqloaders as sl
from seqloaders.augment import concat_samples
from seqloaders.augment.mosaic import scale_hsv
from seqloaders.transform import Transform, visible_boxes_in

SIZE = 128  # sources and outputs: stretch at scale 1, so a tile is its source
GREY = 114
HUE_STEP = 15  # OpenCV hue units (0-179) between the sources' colours


def _colour(label):
    hsv = np.uint8([[[label * HUE_STEP, 255, 220]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]


def _write_sources(folder, count, seed=0):
    """``count`` PNGs, grey with one saturated rectangle each (colour = label), 4 px or more from the border."""
    rng = np.random.default_rng(seed)
    samples = []
    for label in range(count):
        image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
        w, h = (int(v) for v in rng.integers(20, 70, 2))
        x0, y0 = (int(v) for v in rng.integers(4, SIZE - 4 - np.array([w, h]) + 1))
        image[y0:y0 + h, x0:x0 + w] = _colour(label)
        path = folder / f"{label:02d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        samples.append(sl.Sample(path, boxes=[[x0, y0, x0 + w, y0 + h]], labels=[label], image_size=(SIZE, SIZE),
                                 attributes={"blur": [label % 3]}))
    return samples


def _labels_of_pixels(image, count):
    """(H, W) int: the source whose colour each pixel shows, -1 for grey and for unclear blends."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(int)
    hue, sat = hsv[..., 0], hsv[..., 1]
    label = np.rint(hue / HUE_STEP).astype(int) % (180 // HUE_STEP)
    distance = np.abs(hue - label * HUE_STEP)
    distance = np.minimum(distance, 180 - distance)
    clear = (sat >= 60) & (distance <= 5) & (label < count)
    return np.where(clear, label, -1)


def _components(mask):
    """(x0, y0, x1, y1, area) of the connected parts of a bool mask (pixel boxes, XYXY exclusive)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [(x, y, x + w, y + h, a) for x, y, w, h, a in stats[1:n]]


def _check_boxes_against_pixels(image, sample, sources, tolerance=2.5):
    """Every box covers its object's pixels (and no more); every clearly visible object has a box."""
    labels = _labels_of_pixels(image, len(sources))
    assert np.isin(sample.labels, np.arange(len(sources))).all()
    for box, label in zip(sample.boxes, sample.labels, strict=True):
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
        mine = labels == label
        big = [c for c in _components(mine) if min(c[2] - c[0], c[3] - c[1]) >= 3 and c[4] >= 6]
        for cx0, cy0, cx1, cy1, _ in big:  # the object's pixels are inside its box
            assert cx0 >= x0 - tolerance and cy0 >= y0 - tolerance, (box, (cx0, cy0, cx1, cy1))
            assert cx1 <= x1 + tolerance and cy1 <= y1 + tolerance, (box, (cx0, cy0, cx1, cy1))
        ys, xs = np.nonzero(mine)
        assert len(xs), f"box {box} of label {label} shows none of its object"
        # and the box is no larger than the object's pixels (no cut-away part left in the box)
        assert xs.min() <= x0 + tolerance and xs.max() + 1 >= x1 - tolerance, (box, xs.min(), xs.max())
        assert ys.min() <= y0 + tolerance and ys.max() + 1 >= y1 - tolerance, (box, ys.min(), ys.max())
    aug = sl.YoloAugmenter()
    for label in range(len(sources)):
        area = float(np.prod(np.diff(sources[label].boxes.reshape(2, 2), axis=0)))
        # a part that must have kept its box: more than min_visibility of the object even at the largest zoom
        least = 1.2 * aug.min_visibility * aug.scale[1] ** 2 * area
        for cx0, cy0, cx1, cy1, pixels in _components(labels == label):
            if min(cx1 - cx0, cy1 - cy0) >= 4 and pixels >= least:
                assert label in sample.labels, f"a visible object of label {label} ({pixels} px) has no box"


def test_yolo_boxes_cover_their_objects_and_every_visible_object_has_a_box(tmp_path):
    sources = _write_sources(tmp_path, 12)
    loader = sl.Loader(sources, batch_size=6, image_size=(SIZE, SIZE), encoder=sl.PaddedBoxEncoder(16),
                       augment="yolo", preprocess="uint8", seed=3, threads=2)
    assert isinstance(loader.augment, sl.YoloAugmenter)
    mixed = []
    for epoch in range(3):
        for index in range(len(loader)):
            images, samples = loader.load_batch(epoch, index)
            assert images.shape == (6, SIZE, SIZE, 3) and images.dtype == np.uint8
            for image, sample in zip(images, samples, strict=True):
                assert len(sample.sources) == 4 and sample.image_size == (SIZE, SIZE)
                _check_boxes_against_pixels(image, sample, sources)
                assert sample.attributes["blur"].tolist() == (sample.labels % 3).tolist()  # attributes follow
                shown = set(np.unique(_labels_of_pixels(image, len(sources)))) - {-1}
                mixed.append(len(shown))
    assert np.mean(mixed) >= 2 and max(mixed) >= 3, mixed  # outputs mix several sources
    # the batch handed to the model is the one load_batch shows, encoded
    x, y = loader.batch(0, 0)
    images, samples = loader.load_batch(0, 0)
    np.testing.assert_array_equal(x, images)
    want = loader.encoder.encode_batch(samples, (SIZE, SIZE))
    for key in want:
        np.testing.assert_array_equal(y[key], want[key])
    loader.close()


def test_a_3x3_mosaic_and_mixup_keep_their_targets(tmp_path):
    sources = _write_sources(tmp_path, 12)
    with sl.Loader(sources, batch_size=12, image_size=(SIZE, SIZE), encoder=sl.PaddedBoxEncoder(32),
                   augment=sl.YoloAugmenter(grid=3), preprocess="uint8", seed=1, threads=2) as loader:
        images, samples = loader.load_batch(0, 0)
    for image, sample in zip(images, samples, strict=True):
        assert len(sample.sources) >= 4 and len(set(sample.sources)) == len(sample.sources)
        _check_boxes_against_pixels(image, sample, sources)
    aug = sl.YoloAugmenter(mixup=1.0, hue=0, saturation=0, value=0)
    with sl.Loader(sources, batch_size=6, image_size=(SIZE, SIZE), encoder=sl.PaddedBoxEncoder(32), augment=aug,
                   preprocess="uint8", seed=2, threads=1) as loader:
        images, samples = loader.load_batch(0, 0)
    for sample in samples:
        assert len(sample.sources) == 8  # two mosaics blended
        assert sample.num_boxes == len(sample.labels) == len(sample.attributes["blur"])
        assert (sample.boxes[:, 2:] > sample.boxes[:, :2]).all()


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    else:
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("augment", ["yolo", "mixup-masks"])
def test_batches_are_the_same_with_processes_and_threads(tmp_path, augment):
    sources = _write_sources(tmp_path, 10)
    kwargs = {"encoder": sl.PaddedBoxEncoder(16), "augment": "yolo"}
    if augment == "mixup-masks":  # rendered masks and the valid region go through every step too
        sources = [s.replace(masks=sl.SegmentationMasks([("polygon", [s.boxes[0][[0, 1, 2, 1, 2, 3, 0, 3]]
                                                                      .astype(np.float64)])], s.image_size))
                   for s in sources]
        kwargs = {"encoder": {"boxes": sl.PaddedBoxEncoder(16), "masks": sl.InstanceMaskEncoder(16)},
                  "augment": sl.YoloAugmenter(mixup=0.5, copy_paste=0.5, rotate=(-10, 10)), "resize": "letterbox"}
    reference = sl.Loader(sources, batch_size=4, image_size=(SIZE, SIZE), seed=4, threads=2, **kwargs)
    with sl.Loader(sources, batch_size=4, image_size=(SIZE, SIZE), seed=4, processes=2, **kwargs) as loader:
        for epoch in (0, 1):
            for index, (x, y) in enumerate(loader.iter_epoch(epoch)):  # whole batches built ahead
                ex, ey = reference.batch(epoch, index)
                np.testing.assert_array_equal(x, ex)
                _assert_same(y, ey)
        x, y = loader.batch(1, 2)  # asked for alone: one worker builds it (the mixing needs the whole batch)
        np.testing.assert_array_equal(x, reference.batch(1, 2)[0])
        assert loader.report() == reference.report()
    assert reference.report().boxes_without_area > 0  # what mosaic and the affine cut away is counted
    reference.close()


def test_mosaic_and_mixup_are_off_for_the_last_epochs(tmp_path):
    sources = _write_sources(tmp_path, 8)
    aug = sl.YoloAugmenter(mixup=0.5, epochs=3, close_mosaic=1)
    assert aug.mosaic_off_from == 2 and "mosaic off from epoch 2" in repr(aug)
    assert aug.at_epoch(1) is aug and aug.at_epoch(2).mosaic == aug.at_epoch(2).mixup == 0
    seq_kwargs = {"batch_size": 4, "image_size": (SIZE, SIZE), "encoder": sl.PaddedBoxEncoder(16),
                  "preprocess": "uint8", "threads": 1}
    with sl.Loader(sources, augment=aug, **seq_kwargs) as loader:
        _, on = loader.load_batch(1, 0)
        images, off = loader.load_batch(2, 0)
        again = sl.Loader(sources, augment=aug, **seq_kwargs)  # a resumed run: the schedule is a function of the epoch
        np.testing.assert_array_equal(again.batch(2, 0)[0], images)
    assert all(len(s.sources) >= 4 for s in on)
    assert all(len(s.sources) == 1 for s in off)  # one image each: affine, HSV and flip only
    for image, sample in zip(images, off, strict=True):
        _check_boxes_against_pixels(image, sample, sources)
    with pytest.raises(ValueError, match="close_mosaic=10 needs epochs"):
        sl.YoloAugmenter(close_mosaic=10)


def test_copy_paste_mirrors_instances_with_masks_where_they_overlap_nothing():
    image = np.full((64, 64, 3), GREY, np.uint8)
    image[10:30, 4:20] = _colour(2)
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 10:30, 4:20] = True
    kp = np.array([[[6, 12, 2], [18, 12, 2], [0, 0, 0]]], np.float32)
    sample = sl.Sample("a.png", boxes=[[4, 10, 20, 30]], labels=[2], masks=masks, keypoints=kp,
                       attributes={"blur": [1]}, image_size=(64, 64))
    aug = sl.YoloAugmenter(mosaic=0, copy_paste=1.0, scale=(1, 1), translate=0, hue=0, saturation=0, value=0,
                           flip=0, flip_index=(1, 0, 2))
    out, pasted, stats = aug(0, image[None], [sample], np.random.default_rng(0))
    assert pasted.boxes.tolist() == [[4, 10, 20, 30], [44, 10, 60, 30]] and stats == {}
    assert pasted.labels.tolist() == [2, 2] and pasted.attributes["blur"].tolist() == [1, 1]
    np.testing.assert_array_equal(out[10:30, 44:60], image[10:30, 4:20])
    assert pasted.masks[1].sum() == masks.sum() and not (pasted.masks[0] & pasted.masks[1]).any()
    assert pasted.keypoints[1].tolist() == [[64 - 18, 12, 2], [64 - 6, 12, 2], [0, 0, 0]]  # left and right swap
    # an instance whose mirror image overlaps a box is not pasted
    centred = sample.replace(boxes=[[24, 10, 40, 30]])
    _, alone, _ = aug(0, image[None], [centred], np.random.default_rng(0))
    assert alone.num_boxes == 1


def test_mosaic_moves_keypoints_masks_and_cuts_what_it_crops():
    size = 64
    images = np.full((4, size, size, 3), GREY, np.uint8)
    samples = []
    for i in range(4):
        masks = np.zeros((2, size, size), bool)
        masks[0, 8:40, 8:40] = True
        masks[1, 0:64, 50:64] = True  # along the right edge
        kp = np.array([[[10, 10, 2], [0, 0, 0]], [[60, 32, 2], [55, 2, 1]]], np.float32)
        samples.append(sl.LoadedSample(f"{i}.png", boxes=[[8, 8, 40, 40], [50, 0, 64, 64]], labels=[i, 10 + i],
                                       image_size=(size, size), masks=masks, keypoints=kp,
                                       valid_region=np.ones((size, size), bool)))
    aug = sl.YoloAugmenter(hue=0, saturation=0, value=0, flip=0)
    total_cut = 0
    for seed in range(20):
        _, out, stats = aug(0, images, samples, np.random.default_rng(seed))
        total_cut += stats.get("boxes_without_area", 0)
        assert out.masks.shape == (out.num_boxes, size, size)
        region = out.valid_region
        assert region.shape == (size, size) and region.dtype == bool
        for box, mask, points in zip(out.boxes, out.masks, out.keypoints, strict=True):
            ys, xs = np.nonzero(mask)
            if len(xs):  # the mask lies in its box, and on valid pixels
                assert xs.min() >= box[0] - 1 and xs.max() + 1 <= box[2] + 1
                assert ys.min() >= box[1] - 1 and ys.max() + 1 <= box[3] + 1
                assert region[mask].all()
            labelled = points[points[:, 2] > 0]
            inside = ((labelled[:, 0] >= 0) & (labelled[:, 0] <= size) & (labelled[:, 1] >= 0)
                      & (labelled[:, 1] <= size))
            # a labelled keypoint in the output lies in its (clipped) box: cut-away ones became v = 0
            for x, y, _ in labelled[inside]:
                assert box[0] - 1 <= x <= box[2] + 1 and box[1] - 1 <= y <= box[3] + 1
        assert out.num_boxes <= 8
    assert total_cut > 0


def test_the_kernel_additions_compose_and_cut():
    place = Transform.placement((1.0, 1.0), (5.0, 10.0), (100, 100))
    warp = Transform.about_centre((100, 100), (50, 50), scale=0.5)
    boxes = np.array([[0, 0, 20, 10]], np.float32)
    np.testing.assert_allclose(place.then(warp).boxes(boxes), warp.boxes(place.boxes(boxes)))
    assert warp.boxes(np.array([[0, 0, 100, 100]], np.float32)).tolist() == [[0, 0, 50, 50]]
    clipped, keep = visible_boxes_in(np.array([[0, 0, 10, 10], [0, 0, 3, 10]], np.float32), (0, 0, 100, 100), 0.1,
                                     min_size=3)
    assert keep.tolist() == [True, False] and clipped.shape == (2, 4)
    a = sl.Sample("a.png", boxes=[[0, 0, 1, 1]], labels=[0], attributes={"x": [1]})
    b = sl.Sample("b.png", boxes=[[0, 0, 2, 2]], labels=[1])
    with pytest.raises(ValueError, match="attribute 'x' is missing"):
        concat_samples([a, b], a)
    assert concat_samples([a, sl.Sample("c.png")], a).attributes["x"].tolist() == [1]


def test_yolo_arguments_are_checked():
    with pytest.raises(ValueError, match="grid must be 2"):
        sl.YoloAugmenter(grid=4)
    with pytest.raises(ValueError, match="mosaic must be a probability"):
        sl.YoloAugmenter(mosaic=2)
    with pytest.raises(TypeError, match="single-image"):
        sl.YoloAugmenter(after=sl.YoloAugmenter())
    aug = sl.YoloAugmenter(after="detection-light")  # composes with a single-image preset
    assert isinstance(aug.after, sl.NativeAugmenter) and "after=NativeAugmenter" in repr(aug)


def test_preview_draws_a_mosaic_batch(tmp_path, toy):
    from seqloaders.cli import main

    out = tmp_path / "mosaic.png"
    status = main(["preview", "widerface", str(toy.annotations), "--images-dir", str(toy.images), "--out", str(out),
                   "--augment", "yolo", "--encoder", "padded", "--image-size", "96", "96", "--num-images", "4"])
    assert status == 0 and out.exists()
    tiles = cv2.imread(str(out))
    assert tiles.shape[0] == 96


def test_resizing_tiles_into_place_draws_what_warping_the_canvas_draws():
    """Without a turn each tile is resized into the output; a turn of 1e-9 degrees warps the whole canvas."""
    rng = np.random.default_rng(0)
    images = np.full((4, SIZE, SIZE, 3), GREY, np.uint8)
    samples = []
    for i in range(4):
        x0, y0 = (int(v) for v in rng.integers(4, 60, 2))
        images[i, y0:y0 + 50, x0:x0 + 60] = _colour(i)
        keypoints = np.array([[[x0 + 10, y0 + 10, 2], [x0 + 50, y0 + 40, 2]]], np.float32)
        samples.append(sl.LoadedSample(f"{i}.png", boxes=[[x0, y0, x0 + 60, y0 + 50]], labels=[i],
                                       image_size=(SIZE, SIZE), keypoints=keypoints))
    plain = dict(hue=0, saturation=0, value=0, flip=0)
    resized, warped = sl.YoloAugmenter(**plain), sl.YoloAugmenter(rotate=(1e-9, 1e-9), **plain)
    differ = []
    for seed in range(30):
        a, sa, ca = resized(seed % 4, images, samples, np.random.default_rng(seed))
        b, sb, cb = warped(seed % 4, images, samples, np.random.default_rng(seed))
        assert sa.labels.tolist() == sb.labels.tolist() and sa.sources == sb.sources and ca == cb
        np.testing.assert_allclose(sa.boxes, sb.boxes, atol=1.5)
        # each tile's own scale differs from the warp's by under a pixel over what the output shows of it
        # (its pixels and targets move together), so keypoints are compared where the output is
        inside = ((sb.keypoints[..., :2] >= 0) & (sb.keypoints[..., :2] <= SIZE)).all(axis=-1)
        np.testing.assert_allclose(sa.keypoints[inside], sb.keypoints[inside], atol=1.5)
        assert sa.keypoints[..., 2].tolist() == sb.keypoints[..., 2].tolist()
        differ.append((np.abs(a.astype(int) - b.astype(int)) > 40).any(axis=-1).mean())
    # only a line of pixels along the edges (up to half a pixel of rounding per tile) can differ
    assert max(differ) < 0.03 and np.mean(differ) < 0.01, differ


@pytest.mark.parametrize("hue", [0.015, 0.6])  # the colour matrix; and beyond hue gains of 1.42 the LUT too
def test_hsv_gains_are_ultralytics_lut_within_one_level(hue):
    """scale_hsv is Ultralytics' truncating per-channel LUT in HSV within one level, over every hue."""
    rng = np.random.default_rng(1)
    hsv = np.stack([np.arange(180).repeat(40), rng.integers(0, 256, 7200), rng.integers(0, 256, 7200)],
                   axis=-1).astype(np.uint8).reshape(72, 100, 3)
    past_179 = 0
    for seed in range(60):
        gain = np.random.default_rng(seed).uniform(-1.0, 1.0, 3) * (hue, 0.7, 0.4) + 1.0
        want = np.stack([np.mod(hsv[..., 0] * gain[0], 180), np.clip(hsv[..., 1] * gain[1], 0, 255),
                         np.clip(hsv[..., 2] * gain[2], 0, 255)], axis=-1).astype(np.uint8)
        got = scale_hsv(hsv, gain)
        hue_off = (got[..., 0].astype(int) - want[..., 0]) % 180
        assert np.minimum(hue_off, 180 - hue_off).max() <= 1, gain
        assert np.abs(got[..., 1:].astype(int) - want[..., 1:]).max() <= 1, gain
        # what the model sees: OpenCV draws a hue of 180-255 as that hue - 180
        wrapped = got.copy()
        wrapped[..., 0] %= 180
        past_179 += int((got[..., 0] >= 180).any())
        rgb = cv2.cvtColor(got, cv2.COLOR_HSV2RGB).astype(int)
        assert np.abs(rgb - cv2.cvtColor(wrapped, cv2.COLOR_HSV2RGB)).max() <= 1
    assert past_179 > 10  # the gains above 1 took hues past 179
    image = rng.integers(0, 256, (8, 8, 3), np.uint8)
    assert np.array_equal(sl.YoloAugmenter(hue=0, saturation=0, value=0)._hsv(image, np.random.default_rng(0)), image)
