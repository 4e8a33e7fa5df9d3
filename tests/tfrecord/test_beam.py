"""write_tfrecords_beam and `seqloaders convert --runner`: Beam's DirectRunner writes the local writer's files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import seqloaders as sl
from seqloaders.cli import main as cli_main
from seqloaders.tfrecord import TFRecordSource, write_tfrecords, write_tfrecords_beam

DIRECT = ["--runner=DirectRunner", "--direct_num_workers=1"]


@pytest.fixture
def beam():
    """Apache Beam (the `beam` extra, installed by the `test` extra); the test is skipped without it."""
    return pytest.importorskip("apache_beam")


def files_of(folder):
    """{file name: bytes} of every file in ``folder``."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def test_beam_writes_the_local_writers_files_byte_for_byte(beam, tmp_path, toy):
    samples = sl.read_wider_face(toy.annotations, toy.images)
    local = write_tfrecords(samples, tmp_path / "local", num_shards=5, threads=2)
    report = write_tfrecords_beam(samples, tmp_path / "beam", num_shards=5, pipeline_options=DIRECT)
    expected = files_of(tmp_path / "local")
    assert len(expected) == 11  # 5 shards, 5 indexes, the manifest
    assert files_of(tmp_path / "beam") == expected
    assert report.num_written == 24 and not report.failed and report.resumed_shards == 0
    assert [os.path.basename(p) for p in report.shards] == [os.path.basename(p) for p in local.shards]
    source = TFRecordSource(report.pattern)
    assert len(source) == 24 and source.class_names == ("face",)
    for original, back in zip(samples, source):
        assert back.replace(image=original.image) == original.replace(image_size=back.image_size)
        assert source.storage.read(back.image) == Path(original.image).read_bytes()


def test_tensorflow_reads_the_beam_shards(beam, tmp_path, toy):
    tf = pytest.importorskip("tensorflow")
    samples = sl.read_wider_face(toy.annotations, toy.images)[:6]
    report = write_tfrecords_beam(samples, tmp_path / "beam", num_shards=2, pipeline_options=DIRECT,
                                  class_names=["face"])
    spec = {"image/encoded": tf.io.FixedLenFeature((), tf.string),
            "image/filename": tf.io.FixedLenFeature((), tf.string),
            "image/object/class/label": tf.io.VarLenFeature(tf.int64)}
    rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(report.shards)]
    assert len(rows) == 6
    for row, sample, truth in zip(rows, samples, toy.samples):
        assert row["image/filename"].numpy().decode() == sample.image
        image = tf.io.decode_image(row["image/encoded"], channels=3).numpy()
        assert image.shape[:2] == truth.image_size
        assert row["image/object/class/label"].values.numpy().tolist() == [1] * sample.num_boxes


def test_failures_go_to_the_manifest_as_with_the_local_writer(beam, tmp_path, toy):
    bad_jpeg = tmp_path / "bad.jpg"
    bad_jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    samples = list(toy.samples[:5])
    samples.insert(1, sl.Sample(str(tmp_path / "missing.jpg")))
    samples.insert(3, sl.Sample(str(bad_jpeg)))
    with pytest.warns(UserWarning, match="2 of 7 samples could not be written"):
        local = write_tfrecords(samples, tmp_path / "local", num_shards=3, threads=2)
    with pytest.warns(UserWarning, match="2 of 7 samples could not be written"):
        report = write_tfrecords_beam(samples, tmp_path / "beam", num_shards=3, pipeline_options=DIRECT)
    assert report.failed == local.failed and report.num_written == 5
    failed = dict(report.failed)
    assert "FileNotFoundError" in failed[str(tmp_path / "missing.jpg")]
    assert "ImageError" in failed[str(bad_jpeg)]
    manifest = json.loads(Path(report.manifest).read_text())
    assert [(f["index"], f["shard"]) for f in manifest["failed"]] == [(1, 0), (3, 1)]
    assert files_of(tmp_path / "beam") == files_of(tmp_path / "local")
    assert [s.image for s in TFRecordSource(report.pattern)] and len(TFRecordSource(report.pattern)) == 5


def test_shards_beyond_the_sample_count_are_empty_files(beam, tmp_path, toy):
    write_tfrecords(toy.samples[:2], tmp_path / "local", num_shards=4, threads=1)
    report = write_tfrecords_beam(toy.samples[:2], tmp_path / "beam", num_shards=4, pipeline_options=DIRECT)
    assert files_of(tmp_path / "beam") == files_of(tmp_path / "local")
    sizes = [os.path.getsize(p) for p in report.shards]  # samples [0, 0, 1, 1, 2) by shard
    assert sizes[0] == sizes[2] == 0 and sizes[1] > 0 and sizes[3] > 0


def test_beam_resumes_a_local_run_and_keeps_its_complete_shards(beam, tmp_path, toy):
    from apache_beam.options.pipeline_options import PipelineOptions

    samples = toy.samples[:9]
    out = tmp_path / "out"
    write_tfrecords(samples, out, num_shards=3, threads=1)
    expected = files_of(out)
    kept = out / "train-00000-of-00003.tfrecord"
    kept_mtime = kept.stat().st_mtime_ns
    (out / "train-00002-of-00003.tfrecord").unlink()  # as if the run had been killed in its last shard
    report = write_tfrecords_beam(samples, out, num_shards=3, pipeline_options=PipelineOptions(DIRECT))
    assert report.resumed_shards == 2 and report.num_written == 9
    assert files_of(out) == expected and kept.stat().st_mtime_ns == kept_mtime
    again = write_tfrecords_beam(samples, out, num_shards=3, pipeline_options=DIRECT)
    assert again.resumed_shards == 3 and files_of(out) == expected


def test_bad_arguments_are_refused_before_the_pipeline_runs(beam, tmp_path, toy):
    with pytest.raises(ValueError, match="num_shards must be >= 1"):
        write_tfrecords_beam(toy.samples[:2], tmp_path / "a", num_shards=0, pipeline_options=DIRECT)
    with pytest.raises(ValueError, match="threads_per_shard must be >= 1"):
        write_tfrecords_beam(toy.samples[:2], tmp_path / "a", threads_per_shard=0, pipeline_options=DIRECT)
    with pytest.raises(TypeError, match="list of command-line flags"):
        write_tfrecords_beam(toy.samples[:2], tmp_path / "a", pipeline_options="--runner=DirectRunner")


def test_cli_runner_writes_what_the_local_cli_writes(beam, tmp_path, toy, capsys):
    common = ["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--shards", "3"]
    assert cli_main([*common, "--out", str(tmp_path / "local"), "--no-progress"]) == 0
    assert cli_main([*common, "--out", str(tmp_path / "beam"), "--runner", "DirectRunner",
                     "--direct_num_workers=1", "--direct_running_mode", "in_memory"]) == 0
    out = capsys.readouterr().out
    assert "24 of 24 samples written to 3 shards" in out
    assert files_of(tmp_path / "beam") == files_of(tmp_path / "local")


def test_cli_refuses_pipeline_options_without_a_runner(tmp_path, toy, capsys):
    code = cli_main(["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--out",
                     str(tmp_path / "out"), "--direct_num_workers=2"])
    assert code == 2
    assert "unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_beam_the_error_says_which_extra_to_install(tmp_path, toy, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # what `import apache_beam` finds when not installed
    with pytest.raises(ImportError, match=r'pip install "seqloaders\[beam\]"'):
        write_tfrecords_beam(toy.samples[:2], tmp_path / "out")
    code = cli_main(["convert", "widerface", toy.annotations, "--images-dir", toy.images, "--out",
                     str(tmp_path / "out"), "--runner", "DirectRunner"])
    assert code == 2 and 'pip install "seqloaders[beam]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_importing_seqloaders_does_not_import_beam():
    code = ("import sys, seqloaders, seqloaders.tfrecord.beam, seqloaders.cli.convert; "
            "sys.exit('apache_beam' in sys.modules)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0


@pytest.mark.slow
def test_worker_processes_write_the_same_files(beam, tmp_path, toy):
    """Shards written by two Beam worker processes: the jobs and steps really travel pickled."""
    samples = sl.read_wider_face(toy.annotations, toy.images)[:8]
    write_tfrecords(samples, tmp_path / "local", num_shards=4, threads=1)
    write_tfrecords_beam(samples, tmp_path / "beam", num_shards=4, pipeline_options=[
        "--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert files_of(tmp_path / "beam") == files_of(tmp_path / "local")
