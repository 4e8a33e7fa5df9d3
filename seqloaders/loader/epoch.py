"""The order of an epoch: index arithmetic only, so that any batch of any epoch can be built
anywhere, and a resumed run sees exactly the batches it would have seen."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["epoch_order", "parse_shard"]


def parse_shard(shard: Any) -> tuple[int, int]:
    """``(index, count)`` from a tuple or a ``tf.distribute.InputContext``; None is ``(0, 1)``.

    Example:
        >>> parse_shard((1, 4)), parse_shard(None)
        ((1, 4), (0, 1))
    """
    if shard is None:
        return (0, 1)
    if hasattr(shard, "input_pipeline_id") and hasattr(shard, "num_input_pipelines"):
        shard = (shard.input_pipeline_id, shard.num_input_pipelines)
    index, count = (int(v) for v in shard)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
    return index, count


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool, shard: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The sample indices of ``epoch`` in order, for ``shard`` ``(index, count)``.

    A pure function of its arguments: the permutation is drawn from ``default_rng([seed, epoch, 1])``.
    When the shard count does not divide ``n``, the last shards repeat the epoch's first samples,
    so all shards have ``ceil(n / count)`` samples and none is left out.

    Example:
        >>> epoch_order(5, seed=0, epoch=0, shuffle=False, shard=(1, 2)).tolist()
        [1, 3, 0]
    """
    perm = np.random.default_rng([seed, epoch, 1]).permutation(n) if shuffle else np.arange(n)
    index, count = shard
    if count > 1:
        size = -(-n // count)
        perm = np.resize(perm, size * count)[index::count]
    return perm
