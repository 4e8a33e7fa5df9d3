"""Write TFRecord shards with an Apache Beam pipeline: the local writer's output, on many machines.

The launcher parses nothing twice: it takes the sample list it was given, works out the shards
exactly as :func:`~seqloaders.tfrecord.write_tfrecords` does (same contiguous blocks, same
fingerprints, same resume check against the manifest), and hands Beam one element per shard to
write: ``(shard, first sample index, the shard's samples, path)``. Each Beam worker reads the
shard's images through the library's storage (a few threads ahead), turns each sample into its
record with the local writer's code, and writes the shard to a temporary name, its index, then
renames it (for an object-store URL such as ``gs://bucket/shards``: writes both in a local
temporary folder, then uploads the index and the shard, each in one atomic PUT). One last step
gathers the per-shard results and writes the manifest. The shards, index files and manifest are
the local writer's, byte for byte.

Why one element per shard rather than one per sample grouped back by shard: the encoded images
then never pass through Beam's shuffle (a dataset too large for one machine would otherwise be
shuffled whole), and the record order within a shard is the sample order without a sort. The
parallelism is the number of shards, so ask for at least as many shards as Beam workers.

Apache Beam is an optional extra (``pip install "seqloaders[beam]"``) imported only when a
pipeline is built.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..imageio import DEFAULT_MAX_PIXELS
from ..records import Sample
from ..storage import files
from .plan import Plan, WriteReport, plan_write
from .shard import ordered_map, shard_records, try_prepare, write_shard

__all__ = ["BEAM_INSTALL_HINT", "import_beam", "write_tfrecords_beam"]

logger = logging.getLogger(__name__)

#: until seqloaders is on the package index, the extra is installed from a checkout (or Beam alone)
BEAM_INSTALL_HINT = ('pip install "seqloaders[beam]" (from a checkout: pip install ".[beam]"; '
                     'or pip install apache-beam)')
#: the Beam metrics namespace of the counters the workers keep (records written, samples failed)
METRICS_NAMESPACE = "seqloaders"


def import_beam() -> Any:
    """Import and return ``apache_beam``, or explain how to install it.

    Raises:
        ImportError: Apache Beam is not installed; the message gives the pip command.

    Example:
        >>> beam = import_beam()  # doctest: +SKIP
    """
    try:
        import apache_beam
    except ImportError as exc:
        raise ImportError(f"writing TFRecord shards with Apache Beam needs the 'beam' extra: {BEAM_INSTALL_HINT} "
                          f"(or write them on this machine with write_tfrecords)") from exc
    return apache_beam


def _pipeline_options(pipeline_options: Any) -> Any:
    from apache_beam.options.pipeline_options import PipelineOptions

    if pipeline_options is None:
        return PipelineOptions(["--runner=DirectRunner"])
    if isinstance(pipeline_options, PipelineOptions):
        return pipeline_options
    if isinstance(pipeline_options, (str, bytes)) or not isinstance(pipeline_options, Sequence):
        raise TypeError("pipeline_options must be PipelineOptions or a list of command-line flags such as "
                        f"['--runner=DirectRunner'], got {type(pipeline_options).__name__}")
    return PipelineOptions(list(pipeline_options))


def write_tfrecords_beam(
    samples: Sequence[Sample],
    out_dir: str | os.PathLike,
    name: str = "train",
    num_shards: int | None = None,
    pipeline_options: Any = None,
    *,
    threads_per_shard: int = 4,
    reencode: bool = False,
    quality: int = 95,
    verify: bool = True,
    storage: Any = None,
    class_names: Sequence[str] | None = None,
    label_offset: int = 1,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> WriteReport:
    """Write samples to TFRecord shards with an Apache Beam pipeline (any runner).

    Same files as :func:`~seqloaders.tfrecord.write_tfrecords` with the same arguments (shards,
    ``.index`` files and ``<name>.manifest.json``, byte for byte), the same failure handling (a
    sample whose image cannot be read or stored is listed in the manifest and the report, never
    dropped silently), and the same resuming: shards that the manifest records as complete are
    kept, and the local writer and this one can finish each other's runs.

    ``out_dir`` is an object-store URL (``gs://bucket/shards`` on Dataflow, ``s3://...``; the
    bucket must exist) or a folder that every Beam worker can write and this process can read (a
    local folder with the DirectRunner; a shared mount on a cluster). For a URL each worker writes
    its shard in a local temporary folder and uploads the index, then the shard (one atomic PUT
    each); ``storage_options`` travel with the elements, so credentials given there (rather than
    the workers' environment) must be fit to pickle. The storage (default: ``samples.storage``
    or local files) is pickled and sent to the workers, so the image keys must be readable
    there too.

    Args:
        samples: the samples, already parsed (a list, :class:`SampleList` or any sequence). They
            travel inside the pipeline, one element per shard.
        out_dir: output URL, or a shared folder (created).
        name: shard name prefix; letters, digits and ``_.+-``.
        num_shards: number of shards (default: one per 1,000 samples). Shards are the unit of
            parallelism: use at least as many as Beam workers.
        pipeline_options: ``apache_beam.options.pipeline_options.PipelineOptions`` or a list of
            flags as Beam takes them (``["--runner=DataflowRunner", "--project=p", ...]``);
            default: the DirectRunner.
        threads_per_shard: threads reading and checking images ahead within one shard.
        reencode, quality, verify, storage, class_names, label_offset, max_pixels, overwrite,
        storage_options: as for :func:`~seqloaders.tfrecord.write_tfrecords`.

    Returns:
        A :class:`WriteReport`, read back from the manifest that the pipeline wrote.

    Raises:
        ImportError: Apache Beam is not installed (``pip install "seqloaders[beam]"``).
        ValueError: bad ``name``, ``num_shards`` or ``threads_per_shard``.
        RuntimeError: the pipeline did not finish, or finished without writing every shard
            into ``out_dir`` (e.g. a folder the workers cannot share).
        FileNotFoundError: the bucket of a URL ``out_dir`` does not exist.

    Example:
        >>> import seqloaders as sl
        >>> toy = sl.make_toy_dataset("/tmp/seqloaders-toy", num_images=8)                  # doctest: +SKIP
        >>> report = write_tfrecords_beam(toy.samples, "/tmp/toy-beam", num_shards=2,
        ...                               pipeline_options=["--runner=DirectRunner"])      # doctest: +SKIP
        >>> report.num_written                                                              # doctest: +SKIP
        8
        >>> write_tfrecords_beam(toy.samples, "gs://my-bucket/toy", num_shards=2,
        ...                      pipeline_options=["--runner=DataflowRunner", "--project=my-project",
        ...                                        "--region=europe-west1",
        ...                                        "--temp_location=gs://my-bucket/tmp"])  # doctest: +SKIP
    """
    beam = import_beam()
    from apache_beam.runners.runner import PipelineState

    if int(threads_per_shard) < 1:
        raise ValueError(f"threads_per_shard must be >= 1, got {threads_per_shard}")
    options = _pipeline_options(pipeline_options)
    settings = dict(reencode=reencode, quality=quality, verify=verify, storage=storage, class_names=class_names,
                    label_offset=label_offset, max_pixels=max_pixels, storage_options=storage_options)
    plan = plan_write(samples, out_dir, name, num_shards, overwrite=overwrite, **settings)
    samples = plan.samples
    if not plan.todo:
        plan.save_manifest()
        return plan.report()
    logger.info("%s: writing %d of %d shards with Beam (%s)", plan.out_dir, len(plan.todo), plan.num_shards,
                options.get_all_options().get("runner") or "DirectRunner")
    jobs = [(s, plan.bounds[s], list(samples[plan.bounds[s]:plan.bounds[s + 1]]), plan.paths[s]) for s in plan.todo]
    light = dataclasses.replace(plan, samples=(), storage=None)  # what the manifest step needs, without the samples

    pipeline = beam.Pipeline(options=options)
    _ = (pipeline
         | "Shards" >> beam.Create(jobs)
         | "WriteShard" >> beam.Map(_write_beam_shard, storage=plan.storage, options=plan.options,
                                    threads=int(threads_per_shard), storage_options=plan.storage_options)
         | "Gather" >> beam.combiners.ToList()
         | "WriteManifest" >> beam.Map(_write_beam_manifest, plan=light))
    state = pipeline.run().wait_until_finish()
    if state != PipelineState.DONE:
        raise RuntimeError(f"the Beam pipeline writing {plan.out_dir} ended in state {state}; run the same call "
                           "again to write the shards it did not finish")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # already warned about foreign shards above
        written = plan_write(samples, plan.out_dir, plan.name, plan.num_shards, overwrite=False, **settings)
    if written.todo:
        missing = ", ".join(files.basename(plan.paths[s]) for s in written.todo[:3])
        raise RuntimeError(f"the Beam pipeline finished but {len(written.todo)} shards are missing or incomplete in "
                           f"{plan.out_dir} (first: {missing}); out_dir must be a bucket URL or a folder that every "
                           "worker writes and this process reads (a shared mount). Run the same call again to "
                           "finish them")
    plan.entries, plan.failed = written.entries, written.failed
    return plan.report()


def _write_beam_shard(job: tuple[int, int, list[Sample], str], storage: Any, options: Any, threads: int,
                      storage_options: Mapping[str, Any] | None = None) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Beam step: write one shard; returns (shard, records, bytes, failures)."""
    from apache_beam.metrics import Metrics

    shard, start, samples, path = job
    failed: list[dict[str, Any]] = []
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="seqloaders-beam") as pool:
        results = ordered_map(pool, lambda sample: try_prepare(sample, storage, options), samples,
                              window=4 * threads)
        records = shard_records(results, enumerate(samples, start), shard, failed)
        # a unique temporary name: a runner may retry or duplicate a shard's work concurrently
        num_records, num_bytes = write_shard(path, records, tmp=f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex}",
                                             storage_options=storage_options)
    Metrics.counter(METRICS_NAMESPACE, "records_written").inc(num_records)
    Metrics.counter(METRICS_NAMESPACE, "samples_failed").inc(len(failed))
    logger.info("%s: %d records, %d failed", path, num_records, len(failed))
    return shard, num_records, num_bytes, failed


def _write_beam_manifest(results: list[tuple[int, int, int, list[dict[str, Any]]]], plan: Plan) -> str:
    """Beam step: record every written shard in the manifest (once, after all shards)."""
    plan = dataclasses.replace(plan, entries=list(plan.entries), failed=dict(plan.failed))
    for shard, num_records, num_bytes, failed in sorted(results, key=lambda r: r[0]):
        plan.finish_shard(shard, num_records, num_bytes, failed)
    plan.save_manifest()
    return plan.manifest_file
