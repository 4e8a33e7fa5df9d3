"""Smoke test of the throughput benchmark (seqloaders.bench): quick mode on a tiny set.

Runs in-process, only the ceiling (a) and DetectionSequence (d), one warm-up and one measured
epoch (and (a) once in a child process); it checks that the machinery produces numbers, not what
they are.
"""

import importlib.util
import math
import re

import seqloaders as sl
from seqloaders import bench
from seqloaders.bench import BenchConfig, DatasetSpec, plot_results, run_benchmark
from seqloaders.bench.config import VARIANTS
from seqloaders.bench.measure import RUNNERS


def test_quick_benchmark_reports_numbers(tmp_path):
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=16)
    spec = DatasetSpec("widerface", toy.annotations, options={"images_dir": toy.images})
    config = BenchConfig(variants=("a", "d"), workers=(1,), epochs=1, warmup=1, batch_size=4, isolate=False,
                         memory_factor=2)

    result = run_benchmark(spec, config, quick=True)

    for variant in ("a", "d"):
        run = result.get(variant, 1)
        assert run is not None and run.ok, run and run.error
        assert run.images_per_epoch == 16
        assert len(run.epoch_seconds) == 1 and len(run.warmup_seconds) == 1
        assert math.isfinite(run.median) and run.median > 0
        assert run.peak_rss_mb is None or run.peak_rss_mb > 0
    ratio, which = result.ratio("d", "a", 1)
    assert ratio > 0 and which == "d/a"
    assert result.memory is not None and result.memory.large.images_per_epoch == 32

    table = result.table()
    assert re.search(r"^\(a\) .*\s1\s+\d+\s+\[\d+-\d+\]", table, re.M), table
    assert re.search(r"^\(d\) .*\s1\s+\d+\s+\[\d+-\d+\]", table, re.M), table
    assert re.search(r"^\(d\)/\(a\)\s+\d+\.\d\d", table, re.M), table
    assert "QUICK MODE" in table
    markdown = result.markdown()
    assert "## Machine" in markdown and "| (d)  DetectionSequence" in markdown
    if importlib.util.find_spec("matplotlib") is None:  # the plot needs the `bench` extra
        return
    plot_results(result, str(tmp_path / "throughput.png"))
    assert (tmp_path / "throughput.png").stat().st_size > 0


def test_quick_benchmark_runs_the_augmented_and_fit_variants(tmp_path):
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=8)
    spec = DatasetSpec("widerface", toy.annotations, options={"images_dir": toy.images})
    variants = ("d", "b-same", "e", "e-alb", "g", "g-tfdata", "g-uint8", "g-conv")
    config = BenchConfig(variants=variants, workers=(1,), epochs=1, warmup=1, batch_size=4, isolate=False,
                         memory_factor=0, image_size=(64, 64), grid_size=2)

    result = run_benchmark(spec, config, quick=True)

    for variant in variants:
        run = result.get(variant, 1)
        assert run is not None and run.ok, run and run.error
        assert run.images_per_epoch == 8 and run.median > 0
    notes = " ".join(result.get("g-uint8", 1).notes)
    assert "to_tf_dataset(seq, repeat=True)" in notes and "ms per batch" in notes
    assert "NativeAugmenter" in " ".join(result.get("e", 1).notes)
    assert "AlbumentationsAugmenter" in " ".join(result.get("e-alb", 1).notes)
    ratio, which = result.ratio("g*", "d", 1)
    assert ratio > 0 and which.startswith("g") and "conv" not in which
    assert "(g')/(d)" in result.table()


def test_rounds_pool_the_epochs_of_every_round(tmp_path):
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=8)
    spec = DatasetSpec("widerface", toy.annotations, options={"images_dir": toy.images})
    config = BenchConfig(variants=("a", "d"), workers=(1,), epochs=2, warmup=1, batch_size=4, isolate=False,
                         memory_factor=0, rounds=3)
    result = run_benchmark(spec, config, quick=True)
    assert [len(r.epoch_seconds) for r in result.results] == [6, 6]  # one entry per variant, 3 rounds of 2
    assert [len(r.warmup_seconds) for r in result.results] == [3, 3]
    assert "in each of 3 rounds" in result.table()


def test_an_isolated_run_measures_in_a_child_process(tmp_path):
    """The child's entry point (seqloaders.bench.child.main) runs, pinned to one core, and reports back."""
    toy = sl.make_toy_dataset(tmp_path / "toy", num_images=8)
    spec = DatasetSpec("widerface", toy.annotations, options={"images_dir": toy.images})
    config = BenchConfig(variants=("a",), workers=(1,), epochs=1, warmup=0, batch_size=4, memory_factor=0)
    run = run_benchmark(spec, config, quick=True).get("a", 1)
    assert run is not None and run.ok, run and run.error
    assert run.isolated and run.images_per_epoch == 8
    assert run.peak_rss_mb is None or run.peak_rss_mb > 0


def test_every_variant_has_a_runner():
    assert set(RUNNERS) == set(VARIANTS)


def test_the_old_module_reexports_the_same_names():
    from seqloaders import benchmark

    assert benchmark.__all__ == bench.__all__
    for name in bench.__all__:
        if name != "TutorialSequence":  # made on first access: it imports Keras
            assert getattr(benchmark, name) is getattr(bench, name), name
