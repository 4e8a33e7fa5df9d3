"""Write samples to TFRecord shards: parallel, resumable, and never stopped by one bad image.

Samples are assigned to shards in contiguous blocks (shard ``s`` of ``S`` holds samples
``[s * n // S, (s + 1) * n // S)``), so the assignment depends only on the sample list and
the shard count. Worker threads read and check the images ahead; one thread writes the records
in order, so any shard count works with any worker count and the output is the same bytes
whatever the number of workers. A shard is written to a temporary name, then its index, then
renamed, then recorded in the manifest: the manifest is the commit point, and a second run
rewrites only the shards the manifest does not vouch for.

The output may be an fsspec URL (``s3://bucket/shards``, ``gs://...``): each shard and its index
are then written to a local temporary folder by the same code, and uploaded (the index, then the
shard; a PUT is atomic, so no reader sees a partial object), and the manifest is uploaded after
each shard, as it is rewritten locally. The objects are the bytes a local run writes.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..imageio import DEFAULT_MAX_PIXELS
from ..records import Sample
from .plan import SCHEMA_VERSION, WriteReport, manifest_path, plan_write, shard_bounds, shard_names
from .shard import ordered_map, prepare_image, shard_records, try_prepare, write_shard

__all__ = ["SCHEMA_VERSION", "WriteReport", "manifest_path", "prepare_image", "shard_bounds", "shard_names",
           "write_tfrecords"]


def write_tfrecords(
    samples: Sequence[Sample],
    out_dir: str | os.PathLike,
    name: str = "train",
    num_shards: int | None = None,
    threads: int | None = None,
    *,
    reencode: bool = False,
    quality: int = 95,
    verify: bool = True,
    storage: Any = None,
    class_names: Sequence[str] | None = None,
    label_offset: int = 1,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    overwrite: bool = False,
    progress: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    workers: int | None = None,
) -> WriteReport:
    """Write samples and their images to TFRecord shards in the Object Detection API layout.

    Every shard is ``<out_dir>/<name>-SSSSS-of-NNNNN.tfrecord`` with its record index beside it
    (``.tfrecord.index``) and ``<name>.manifest.json`` lists the shards and every failed sample.
    A sample whose image cannot be read, decoded or stored is left out and reported; it never
    stops the run. Run the same call again after an interruption: shards that the manifest
    records as complete (same samples, same options) are kept, the rest are written anew.

    ``out_dir`` may be an fsspec URL (``s3://bucket/shards``, ``gs://...``, needs the ``s3``
    extra or the store's fsspec backend): every shard is written to a local temporary folder
    (``$TMPDIR``; room for one shard), then its index and the shard are uploaded, each object
    in one atomic PUT, and the manifest after them. The objects are byte for byte the files a
    local run writes, and resuming works the same way.

    Args:
        samples: the samples (a list, :class:`SampleList` or any sequence, e.g. a
            :class:`TFRecordSource` to re-shard). Boxes are XYXY pixels of the upright image.
        out_dir: output folder (created) or URL (the bucket must exist).
        name: shard name prefix; letters, digits and ``_.+-``.
        num_shards: number of shards (default: one per 1,000 samples, at least 1). Any count
            works with any number of workers; shards beyond the sample count are empty.
        threads: threads reading and checking images (default: cores, at most 8).
        reencode: re-encode every image as JPEG at ``quality`` (default: keep the bytes).
        quality: JPEG quality of re-encoded images (also for EXIF-rotated JPEGs).
        verify: decode each carried-over image once (JPEG at 1/8 scale) to keep corrupt files out.
        storage: where the images are read from (default: ``samples.storage`` if the source has
            one, else local files).
        class_names: names for ``image/object/class/text`` (default: ``samples.class_names``).
        label_offset: added to the labels on writing (1: the API's 1-based class ids).
        max_pixels: refuse images whose header declares more pixels.
        overwrite: rewrite every shard even if an earlier run completed it.
        progress: show a tqdm progress bar (default: when stderr is a terminal).
        workers: deprecated name of ``threads`` (a DeprecationWarning).
        storage_options: options of the fsspec file system of a URL ``out_dir``
            (``{"endpoint_url": ..., "key": ..., "secret": ...}`` for S3); default: the
            environment. The images are read through ``storage``, which has its own.

    Returns:
        A :class:`WriteReport`: shards, written count and every failed sample with its error.

    Raises:
        ValueError: bad ``name``, ``num_shards`` or ``threads``.
        OSError: the output folder cannot be written (a disk error stops the run; a partial
            shard keeps its temporary name and is rewritten by the next run), or an upload
            failed after its retries (the next run rewrites that shard).
        FileNotFoundError: the bucket of a URL ``out_dir`` does not exist.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)          # doctest: +SKIP
        >>> report = write_tfrecords(toy.samples, "/tmp/toy-tfr", num_shards=2)     # doctest: +SKIP
        >>> report.num_written                                                      # doctest: +SKIP
        8
        >>> write_tfrecords(toy.samples, "s3://bucket/toy-tfr", num_shards=2)     # doctest: +SKIP
    """
    if workers is not None:  # the old name; thread counts are threads= everywhere in seqloaders
        if threads is not None and threads != workers:
            raise TypeError(f"write_tfrecords got threads={threads} and its deprecated alias workers={workers}")
        warnings.warn("write_tfrecords(workers=...) is deprecated: the reading threads are threads=...",
                      DeprecationWarning, stacklevel=2)
        threads = workers
    workers = int(threads) if threads is not None else min(8, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"threads must be >= 1, got {workers}")
    plan = plan_write(samples, out_dir, name, num_shards, reencode=reencode, quality=quality, verify=verify,
                      storage=storage, class_names=class_names, label_offset=label_offset, max_pixels=max_pixels,
                      overwrite=overwrite, storage_options=storage_options)
    samples, bounds = plan.samples, plan.bounds
    jobs = [(s, i) for s in plan.todo for i in range(bounds[s], bounds[s + 1])]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _progress_bar(len(jobs), show, f"{plan.name} → {plan.out_dir}")
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="seqloaders-tfr") as pool:
            results = ordered_map(pool, lambda job: try_prepare(samples[job[1]], plan.storage, plan.options), jobs,
                                  window=4 * workers)
            for s in plan.todo:
                failed: list[dict[str, Any]] = []
                records = shard_records(results, ((i, samples[i]) for i in range(bounds[s], bounds[s + 1])), s,
                                        failed, bar)
                num_records, num_bytes = write_shard(plan.paths[s], records,
                                                     storage_options=plan.storage_options)
                plan.finish_shard(s, num_records, num_bytes, failed)
                plan.save_manifest()
    finally:
        bar.close()
    if not plan.todo:
        plan.save_manifest()
    return plan.report(stacklevel=2)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool, desc: str):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc=desc, file=sys.stderr, dynamic_ncols=True)
