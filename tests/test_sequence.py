
import albumentations as A
import cv2
import numpy as np
import pytest
from imagehelpers import solid_box_image, write_jpeg

import seqloaders as sl


def make_seq(samples, **kwargs):
    kwargs.setdefault("batch_size", 5)
    kwargs.setdefault("image_size", (64, 64))
    kwargs.setdefault("encoder", sl.GridEncoder(grid_size=4))
    return sl.DetectionSequence(samples, **kwargs)


def extent(mask):
    """XYXY extent of the True pixels of a (H, W) mask."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def test_shapes_dtypes_and_length(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = sl.DetectionSequence(samples, batch_size=10, image_size=(224, 224),
                               encoder=sl.GridEncoder(grid_size=7, num_classes=1))
    assert len(seq) == 3
    x, y = seq[0]
    assert x.shape == (10, 224, 224, 3) and x.dtype == np.float32
    assert y.shape == (10, 7, 7, 5) and y.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    x_last, y_last = seq[2]
    assert x_last.shape[0] == 4 and y_last.shape[0] == 4
    assert len(make_seq(samples, batch_size=10, drop_remainder=True)) == 2
    with pytest.raises(IndexError):
        seq[3]
    assert "24 samples" in repr(seq) and "GridEncoder" in repr(seq)


def test_every_face_is_encoded_once_and_empty_images_stay_empty(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = make_seq(samples, batch_size=24, image_size=(224, 224), encoder=sl.GridEncoder(grid_size=7),
                   shuffle=False)
    _, y = seq[0]
    not_encoded = seq.report().boxes_not_encoded
    assert y[..., 0].sum() + not_encoded == sum(s.num_boxes for s in samples)
    for k, s in enumerate(samples):
        if s.num_boxes == 0:
            assert not y[k].any()


def test_a_batch_is_a_pure_function_of_seed_epoch_and_index(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    a = make_seq(samples, augment="detection", seed=7, threads=1)
    b = make_seq(samples, augment="detection", seed=7, threads=4)
    xa, ya = a[1]
    xb, yb = b[1]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(a[1][0], xa)  # asking twice gives the same batch
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], xa)  # the next epoch differs...
    assert not np.array_equal(a.permutation(0), a.permutation(1))  # ...because samples are reshuffled
    a.set_epoch(0)
    np.testing.assert_array_equal(a[1][0], xa)
    c = make_seq(samples, augment="detection", seed=8)
    assert not np.array_equal(c[1][0], xa)


def test_shuffle_false_keeps_file_order(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = make_seq(samples, shuffle=False)
    np.testing.assert_array_equal(seq.permutation(3), np.arange(len(samples)))


def _boxes_from_drawn_region(seq, index=0):
    images, out = seq.load_batch(index)
    return images, out


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_reduced_decode_keeps_boxes_on_their_pixels(tmp_path, resize):
    box = (412, 96, 700, 560)
    image = solid_box_image((768, 1024), box)
    path = tmp_path / "big.jpg"
    write_jpeg(path, image)
    sample = sl.Sample(str(path), boxes=[box], labels=[0])
    seq = make_seq([sample], batch_size=1, image_size=(96, 128), resize=resize)
    images, out = seq.load_batch(0)
    drawn = extent(images[0].mean(axis=-1) > 127)
    np.testing.assert_allclose(out[0].boxes[0], drawn, atol=1.0)


def test_exif_rotated_image_boxes_are_in_the_displayed_frame(tmp_path):
    box = (30, 100, 90, 180)
    displayed = solid_box_image((240, 160), box)
    stored = np.ascontiguousarray(np.rot90(displayed, k=1))  # orientation 6 rotates it back clockwise
    path = tmp_path / "rotated.jpg"
    write_jpeg(path, stored, exif_orientation=6)
    seq = make_seq([sl.Sample(str(path), boxes=[box], labels=[0])], batch_size=1, image_size=(120, 80))
    images, out = seq.load_batch(0)
    np.testing.assert_allclose(out[0].boxes[0], extent(images[0].mean(axis=-1) > 127), atol=1.0)


@pytest.mark.parametrize("augment_at", ["output", "source"])
def test_augmented_boxes_stay_on_their_pixels(tmp_path, augment_at):
    boxes = [(40, 30, 110, 90), (150, 120, 230, 200)]
    samples = []
    for k in range(4):
        image = np.zeros((240, 320, 3), np.uint8)
        image[boxes[0][1]:boxes[0][3], boxes[0][0]:boxes[0][2]] = (255, 0, 0)
        image[boxes[1][1]:boxes[1][3], boxes[1][0]:boxes[1][2]] = (0, 0, 255)
        path = tmp_path / f"{k}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        samples.append(sl.Sample(str(path), boxes=boxes, labels=[0, 1], attributes={"tag": np.array([10, 20])}))
    augment = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5),
                         A.Affine(scale=(0.7, 1.1), translate_percent=(-0.1, 0.1), p=1.0)],
                        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    seq = make_seq(samples, batch_size=4, image_size=(120, 160), augment=augment, augment_at=augment_at,
                   encoder=sl.GridEncoder(grid_size=4, num_classes=2))
    for epoch in range(3):
        images, out = seq.load_batch(0, epoch=epoch)
        for image, sample in zip(images, out):
            for box, label, tag in zip(sample.boxes, sample.labels, sample.attributes["tag"]):
                assert tag == (10 if label == 0 else 20)  # attributes follow their boxes
                channel = 0 if label == 0 else 2
                drawn = extent(image[..., channel] > 127)
                np.testing.assert_allclose(box, drawn, atol=1.5)


def test_missing_and_corrupt_images_raise_with_the_file_name(toy, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8garbage")
    samples = [sl.Sample(str(tmp_path / "missing.jpg")), sl.Sample(str(bad))]
    seq = make_seq(samples, batch_size=1, shuffle=False)
    with pytest.raises(sl.SampleError, match=r"missing.jpg.*FileNotFoundError") as info:
        seq[0]
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(sl.SampleError, match=r"corrupt.jpg.*ImageError"):
        seq[1]


def test_skip_keeps_the_batch_shape_and_reports(toy, tmp_path):
    samples = list(sl.read_wider_face(toy.annotations, toy.images))
    missing = str(tmp_path / "gone.jpg")
    samples[3] = sl.Sample(missing, boxes=[[1, 1, 5, 5]], labels=[0])
    seq = make_seq(samples, batch_size=24, shuffle=False, on_error="skip")
    x, y = seq[0]
    assert x.shape[0] == 24 and y.shape[0] == 24
    report = seq.report()
    assert list(report.skipped) == [missing] and "FileNotFoundError" in report.skipped[missing]
    assert report.skip_events == 1
    _images, out = seq.load_batch(0)
    assert out[3].image == samples[4].image  # replaced by the next sample of the epoch
    with pytest.warns(UserWarning, match="skipping .*gone.jpg"):
        make_seq(samples, batch_size=24, shuffle=False, on_error="warn")[0]


def test_preprocess_options(toy):
    import keras

    samples = sl.read_wider_face(toy.annotations, toy.images)
    x8, _ = make_seq(samples, preprocess="uint8")[0]
    assert x8.dtype == np.uint8
    raw, _ = make_seq(samples, preprocess=None)[0]
    np.testing.assert_array_equal(raw, x8.astype(np.float32))
    mob, _ = make_seq(samples, preprocess=keras.applications.mobilenet_v2.preprocess_input)[0]
    np.testing.assert_allclose(mob, x8 / 127.5 - 1, atol=1e-5)
    with pytest.raises(ValueError, match="preprocess"):
        make_seq(samples, preprocess="normalize")


def test_dict_of_encoders_gives_a_dict_y(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = make_seq(samples, encoder={"coarse": sl.GridEncoder(grid_size=2), "fine": sl.GridEncoder(grid_size=8)})
    _, y = seq[0]
    assert y["coarse"].shape == (5, 2, 2, 5) and y["fine"].shape == (5, 8, 8, 5)


def test_constructor_errors(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    with pytest.raises(TypeError, match="encoder is required"):
        sl.DetectionSequence(samples)
    with pytest.raises(ValueError, match="resize"):
        make_seq(samples, resize="crop")
    with pytest.raises(ValueError, match="empty"):
        make_seq([])
    with pytest.raises(ValueError, match="bbox_params"):
        make_seq(samples, augment=A.Compose([A.HorizontalFlip()]))
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        make_seq(samples, augment="detectoin")


def test_plain_function_augmenter(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)

    def flip(image, bboxes, labels):
        w = image.shape[1]
        return {"image": image[:, ::-1], "bboxes": bboxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [w, 0, w, 0],
                "labels": labels}

    plain = make_seq(samples, shuffle=False)
    flipped = make_seq(samples, shuffle=False, augment=flip)
    (a, _), (b, _) = plain.load_batch(0), flipped.load_batch(0)
    np.testing.assert_array_equal(a[:, :, ::-1], b)


def _batches_through_keras(seq):
    """Iterate one epoch the way model.fit does (ordered, no batch shuffling)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(seq, shuffle=False)
    adapter.on_epoch_begin()
    batches = [tuple(np.asarray(t) for t in b) for b in adapter.get_numpy_iterator()]
    adapter.on_epoch_end()
    return batches


@pytest.mark.slow
@pytest.mark.parametrize("workers,processes", [(4, False), (2, True)])
def test_worker_threads_and_processes_give_the_same_batches(toy, workers, processes):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    reference = make_seq(samples, augment="detection", seed=3)
    expected_epochs = []
    for epoch in range(2):
        reference.set_epoch(epoch)
        expected_epochs.append([reference[i] for i in range(len(reference))])
    seq = make_seq(samples, augment="detection", seed=3, workers=workers, use_multiprocessing=processes)
    for epoch in range(2):
        got = _batches_through_keras(seq)
        assert seq.epoch == epoch + 1
        assert len(got) == len(expected_epochs[epoch])
        for (gx, gy), (ex, ey) in zip(got, expected_epochs[epoch]):
            np.testing.assert_array_equal(gx, ex)
            np.testing.assert_array_equal(gy, ey)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True])
def test_model_fit_trains_on_the_sequence(toy, processes):
    import keras

    samples = sl.read_wider_face(toy.annotations, toy.images)
    seq = sl.DetectionSequence(samples, batch_size=8, image_size=(64, 64), encoder=sl.GridEncoder(grid_size=4),
                               augment="detection", workers=2, use_multiprocessing=processes)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64, 64, 3)),
        keras.layers.Conv2D(8, 3, strides=4, activation="relu", padding="same"),
        keras.layers.Conv2D(5, 3, strides=4, activation="sigmoid", padding="same"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(seq, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    # on_epoch_end ran after every epoch (Keras 3 also calls it once before the first one)
    assert seq.epoch in (3, 4)


def test_read_ahead_gives_the_same_batches_in_any_order(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    ahead = make_seq(samples, augment="detection-light", seed=4)
    plain = make_seq(samples, augment="detection-light", seed=4, read_ahead=False)
    assert ahead._reads_ahead() and not plain._reads_ahead()
    for _ in range(2):  # in order, across an epoch boundary (batch 0 of the next epoch is built ahead)
        for i in range(len(ahead)):
            xa, ya = ahead[i]
            xp, yp = plain[i]
            np.testing.assert_array_equal(xa, xp)
            np.testing.assert_array_equal(ya, yp)
        ahead.on_epoch_end()
        plain.on_epoch_end()
    for i in (3, 0, 4, 4, 1):  # out of order: what was built ahead is not the batch asked for
        np.testing.assert_array_equal(ahead[i][0], plain[i][0])
    ahead.set_epoch(0)
    plain.set_epoch(0)
    np.testing.assert_array_equal(ahead[2][1], plain[2][1])


def test_read_ahead_waits_for_requests_in_order(toy):
    seq = make_seq(sl.read_wider_face(toy.annotations, toy.images))
    for i in (3, 1, 4, 0, 2):  # model.fit(shuffle=True) asks in random order: nothing is built ahead
        seq[i]
        assert seq.loader.ahead == []
    seq.on_epoch_end()
    seq[0]
    assert seq.loader.ahead == [(1, 1)]  # in order again
    seq[1]
    assert seq.loader.ahead == [(1, 2)]
    seq.on_epoch_end()
    for i in (3, 1, 2):  # two neighbours by chance, as a shuffled order gives once in n batches: no
        seq[i]
        assert all(epoch != 2 for epoch, _ in seq.loader.ahead)  # only last epoch's, never used
    seq[3]  # a third in a row: a loop
    assert seq.loader.ahead == [(2, 4)]


def test_read_ahead_raises_an_error_at_its_own_batch(toy, tmp_path):
    samples = list(sl.read_wider_face(toy.annotations, toy.images))[:10]
    samples[7] = sl.Sample(str(tmp_path / "gone.jpg"))
    seq = make_seq(samples, shuffle=False)  # batch 1 (samples 5-9) is built while batch 0 is used
    assert seq[0][0].shape[0] == 5
    with pytest.raises(sl.SampleError, match=r"gone.jpg"):
        seq[1]
    assert seq.report().skip_events == 0


def test_read_ahead_is_off_where_keras_works_ahead(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    assert not make_seq(samples, workers=2)._reads_ahead()
    assert not make_seq(samples, workers=1, use_multiprocessing=True)._reads_ahead()


def test_albumentations_keeps_targets_aligned_when_a_box_has_no_area(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.zeros((20, 40, 3), np.uint8))
    keypoints = np.array([[[2, 2, 2]], [[9, 9, 2]], [[30, 15, 2]]], np.float32)
    sample = sl.Sample(path, boxes=[[0, 0, 10, 10], [5, 5, 5, 5], [20, 10, 40, 20]], labels=[0, 1, 2],
                       keypoints=keypoints, attributes={"blur": np.array([0, 1, 2])})
    aug = sl.AlbumentationsAugmenter(A.Compose(
        [A.HorizontalFlip(p=1.0)], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False)))
    _, out = aug(np.zeros((20, 40, 3), np.uint8), sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out.labels, [0, 2])
    np.testing.assert_array_equal(out.attributes["blur"], [0, 2])
    np.testing.assert_allclose(out.boxes, [[30, 0, 40, 10], [0, 10, 20, 20]])
    np.testing.assert_allclose(out.keypoints[:, 0, :2], [[38, 2], [10, 15]])
