import pytest

import seqloaders as sl


def seqs(samples, count, **kwargs):
    return [sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2),
                                 shard=(i, count), seed=5, **kwargs) for i in range(count)]


def images_of_epoch(seq, epoch):
    return [seq.samples[i].image for i in seq.permutation(epoch)]


@pytest.mark.parametrize("count", [2, 3, 4])
def test_shards_of_an_epoch_are_disjoint_equal_and_cover_the_dataset(toy, count):
    samples = sl.read_wider_face(toy.annotations, toy.images)  # 24 images: divisible by 2, 3 and 4
    shards = seqs(samples, count)
    for epoch in range(3):
        parts = [images_of_epoch(s, epoch) for s in shards]
        assert len({len(p) for p in parts}) == 1
        flat = [image for part in parts for image in part]
        assert len(flat) == len(set(flat)) == len(samples)
        assert len(shards[0]) == len(samples) // count // 4 + (1 if len(samples) // count % 4 else 0)
    assert images_of_epoch(shards[0], 0) != images_of_epoch(shards[0], 1)  # reshuffled per epoch


def test_uneven_shards_stay_equal_and_lose_nothing(toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)[:22]
    parts = [images_of_epoch(s, 0) for s in seqs(samples, 4)]
    assert [len(p) for p in parts] == [6, 6, 6, 6]
    assert set().union(*map(set, parts)) == {s.image for s in samples}


def test_shard_from_a_tf_distribute_input_context(toy):
    import tensorflow as tf

    samples = sl.read_wider_face(toy.annotations, toy.images)
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1)
    seq = sl.DetectionSequence(samples, batch_size=4, image_size=(32, 32), encoder=sl.GridEncoder(grid_size=2),
                               shard=ctx, seed=5)
    assert images_of_epoch(seq, 0) == images_of_epoch(seqs(samples, 3)[1], 0)
    x, _ = seq[0]
    assert x.shape == (4, 32, 32, 3)
    for bad in [(0, 0), (3, 3), (-1, 2)]:
        with pytest.raises(ValueError, match="shard must be"):
            sl.DetectionSequence(samples, encoder=sl.GridEncoder(), shard=bad)
