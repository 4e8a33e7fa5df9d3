"""The ``seqloaders`` front door: fast silent help, --version, shared option names, validated values,
usage errors from the subcommand's parser, and one finding when most images are missing."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

import seqloaders as sl
from seqloaders.cli import SUBCOMMANDS, main
from seqloaders.cli.common import _TENSORFLOW_NOISE

QUIET = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
QUIET.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must quiet TensorFlow by itself


def _run(*args: str, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqloaders", *args], capture_output=True, text=True, env=QUIET,
                          cwd=cwd, timeout=timeout, check=False)


def test_help_imports_no_subcommand_and_prints_nothing_on_stderr():
    code = ("import sys\nfrom seqloaders.cli import main\nstatus = main(['--help'])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'apache_beam')\n"
            "               or m.startswith(('seqloaders.cli.', 'seqloaders.bench')))\n"
            "print('HEAVY', heavy)\nsys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=QUIET, timeout=60,
                          check=False)
    assert done.returncode == 0 and done.stderr == ""
    assert "HEAVY []" in done.stdout
    for name, spec in SUBCOMMANDS.items():
        assert name in done.stdout and spec.help.split()[0] in done.stdout


def test_registered_help_lines_are_the_modules_own():
    for name, spec in SUBCOMMANDS.items():
        module = importlib.import_module(spec.module, "seqloaders.cli")
        assert spec.help == module.HELP, name


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"seqloaders {sl.__version__}"


@pytest.mark.parametrize("argv, message", [
    (["check", "widerface", "a.txt", "--threads", "-3"], "argument --threads: must be >= 1, got -3"),
    (["check", "widerface", "a.txt", "--threads", "two"], "argument --threads: expects an integer, got 'two'"),
    (["check", "widerface", "a.txt", "--max-fidnings", "3"], ("unrecognized arguments: --max-fidnings 3 "
                                                               "(--max-fidnings: did you mean --max-findings?)")),
    (["inspect", "widerface", "a.txt", "-o", "columns"], "argument --option/-o: expects KEY=VALUE, got 'columns'"),
    (["preview", "widerface", "a.txt", "--num-images", "0"], "argument --num-images: must be >= 1, got 0"),
    (["convert", "widerface", "a.txt", "--out", "x", "--threads", "0"], "argument --threads: must be >= 1, got 0"),
    (["convert", "widerface", "a.txt", "--out", "x", "--quality", "101"],
     "argument --quality: must be between 1 and 100, got 101"),
])
def test_bad_values_are_usage_errors_of_the_subcommand(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"usage: seqloaders {argv[0]} " in err  # the subcommand's usage, not the top-level one
    assert f"seqloaders {argv[0]}: error: {message}" in err


def test_a_mistyped_command_is_named_with_the_nearest_one(capsys):
    assert main(["chekc", "widerface", "a.txt"]) == 2
    assert "unknown command 'chekc'; did you mean 'check'?" in capsys.readouterr().err


def test_one_name_for_the_findings_limit_and_the_old_one_still_works(toy, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    with open(toy.annotations) as f:
        bad.write_text(f.read() + "".join(f"gone{k}.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n" for k in range(2)))
    for command in ("inspect", "check"):
        assert main([command, "widerface", str(bad), "--images-dir", toy.images, "--max-findings", "1"]) == 1
        out = capsys.readouterr().out
        assert "error missing image: 2" in out and "... and 1 more" in out, out
    assert main(["inspect", "widerface", str(bad), "--images-dir", toy.images, "--max-problems", "0"]) == 1
    captured = capsys.readouterr()
    assert "--max-problems is deprecated; use --max-findings" in captured.err and "... and 2 more" in captured.out


def test_convert_takes_reader_options_with_o(tmp_path, capsys):
    toy = sl.make_toy_formats(tmp_path, ["csv"], num_images=4)["csv"]
    columns = json.dumps(toy.options["columns"])
    out = tmp_path / "shards"
    assert main(["convert", "csv", toy.path, "-o", f"columns={columns}", "--out", str(out), "--shards", "1",
                 "--no-progress"]) == 0
    assert "4 of 4 samples written to 1 shards" in capsys.readouterr().out
    assert main(["convert", "csv", toy.path, "--out", str(tmp_path / "none"), "-o", "nonsense=1"]) == 2
    assert "seqloaders convert: error:" in capsys.readouterr().err


def test_most_images_missing_is_one_finding_naming_both_folders(toy, tmp_path, capsys):
    wrong = os.path.dirname(toy.images)  # the toy root instead of its images/ folder
    report = tmp_path / "check.json"
    assert main(["check", "widerface", toy.annotations, "--images-dir", wrong, "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "error missing image: 1" in out
    assert f"{len(toy.samples)} of {len(toy.samples)} images are missing: not found under {wrong}" in out
    assert f"--images-dir {toy.images}" in out
    (finding,) = json.loads(report.read_text())["findings"]
    assert finding["kind"] == "missing image" and finding["severity"] == "error"
    assert finding["details"]["looked_in"] == wrong and finding["details"]["found_in"] == toy.images
    assert len(finding["details"]["images"]) == len(toy.samples)

    assert main(["inspect", "widerface", toy.annotations, "--images-dir", os.path.join(wrong, "imagse")]) == 1
    out = capsys.readouterr().out
    assert "problems: 1 (1 errors)" in out and f"--images-dir {toy.images}" in out


def test_a_few_missing_images_are_still_listed_one_by_one(toy, tmp_path):
    samples = list(sl.read_wider_face(toy.annotations, toy.images))
    samples[0] = sl.Sample(os.path.join(toy.images, "gone.jpg"))
    samples[1] = sl.Sample(os.path.join(toy.images, "gone2.jpg"))
    found = sl.check_dataset(samples, progress=False).by_kind("missing image")
    assert [os.path.basename(f.image) for f in found] == ["gone.jpg", "gone2.jpg"]


def test_missing_images_with_no_folder_holding_them(tmp_path):
    from seqloaders.check import locate_missing_images

    paths = [str(tmp_path / "nowhere" / f"{k}.jpg") for k in range(4)]
    many = locate_missing_images(paths, 5)
    assert many.found_in is None and many.looked_in == str(tmp_path / "nowhere")
    assert "check the images root" in many.message
    assert locate_missing_images(paths[:2], 3) is None  # too few to be "most"
    assert locate_missing_images(paths, 8) is None  # not more than half
    assert locate_missing_images(["s3://b/a.jpg"] * 4, 4) is None  # URLs are not searched


def test_tensorflow_startup_lines_are_recognised_and_others_kept():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796166763.467487    5341 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796166763.467858    5341 cudart_stub.cc:31] Could not find cuda drivers on your machine",
        "E0000 00:00:1796166867.173832    5719 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow",
    ]
    assert all(_TENSORFLOW_NOISE.match(line) for line in noise)
    assert not _TENSORFLOW_NOISE.match("E0000 00:00:1796166867.1 5719 op_kernel.cc:1] OOM when allocating tensor")
    assert not _TENSORFLOW_NOISE.match("Traceback (most recent call last):")


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_preview_is_silent_and_writes_into_the_current_folder_by_default(toy, tmp_path):
    done = _run("preview", "widerface", toy.annotations, "--images-dir", toy.images, "--num-images", "2",
                "--image-size", "32", "32", "--grid-size", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no TensorFlow start-up lines
    assert (tmp_path / "preview.png").is_file() and "wrote preview.png" in done.stdout


@pytest.mark.slow  # the bench module imports TensorFlow
def test_bench_still_dispatches_and_its_help_is_silent():
    done = _run("bench", "--help")
    assert done.returncode == 0 and "usage: seqloaders bench" in done.stdout
    assert done.stderr == "", done.stderr
