import json
import os
import subprocess
import sys

import numpy as np

import seqloaders as sl
from seqloaders.cli import main


def test_inspect_clean_dataset_exits_zero(toy, capsys):
    assert main(["inspect", "widerface", toy.annotations, "--images-dir", toy.images]) == 0
    out = capsys.readouterr().out
    boxes = sum(s.num_boxes for s in toy.samples)
    assert f"images: {len(toy.samples)}" in out and f"boxes:  {boxes}" in out
    assert f"face  {boxes}" in out and "problems: 0 (0 errors)" in out


def test_inspect_reports_every_problem_and_exits_non_zero(toy, tmp_path, capsys):
    with open(toy.annotations) as f:
        text = f.read()
    size = toy.samples[0].image_size
    text += f"missing/none.jpg\n1\n1 1 4 4 0 0 0 0 0 0\n{os.path.relpath(toy.samples[0].image, toy.images)}\n2\n"
    text += f"{size[1] - 5} 3 10 10 0 0 0 0 0 0\n7 7 0 0 0 0 0 1 0 0\nbroken.jpg\nx\n"
    path = tmp_path / "bad.txt"
    path.write_text(text)
    report = tmp_path / "report.json"
    assert main(["inspect", "widerface", str(path), "--images-dir", toy.images, "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "error missing image: 1" in out
    assert "error box outside image: 1" in out
    assert "warning zero-size box: 1" in out
    assert "expected a box count, got 'x'" in out
    findings = json.loads(report.read_text())
    assert {p["kind"] for p in findings["problems"]} == {"missing image", "box outside image", "zero-size box"}
    assert findings["skipped_entries"][0]["line"] == len(text.splitlines())


def test_summary_flags_unknown_classes():
    samples = [sl.Sample("a.jpg", boxes=[[0, 0, 2, 2]], labels=[3])]
    summary = sl.summarize(samples, class_names=["cat", "dog"], check_images=False)
    assert [p.kind for p in summary.problems] == ["unknown class"] and summary.num_errors == 1
    np.testing.assert_allclose(summary.box_width["median"], 2)


def test_console_script_entry_point(toy):
    result = subprocess.run([sys.executable, "-m", "seqloaders", "inspect", "widerface", toy.annotations,
                             "--images-dir", toy.images, "--no-images"], capture_output=True, text=True,
                            env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "images: 24" in result.stdout


def test_inspect_passes_reader_options(tmp_path, capsys):
    """``--option KEY=VALUE`` (JSON values) reaches the reader, shared with check and preview."""
    from seqloaders.cli.common import parse_options

    toy = sl.make_toy_formats(tmp_path, ["csv"], num_images=4)["csv"]
    columns = json.dumps(toy.options["columns"])
    assert main(["inspect", "csv", toy.path, "-o", f"columns={columns}", "--option", "attributes=[\"difficult\"]",
                 "--no-images"]) == 0
    out = capsys.readouterr().out
    assert f"images: {len(toy.samples)}" in out
    assert parse_options(["a=1", "b=x", "c=[1, 2]", "d-e=true"]) == {"a": 1, "b": "x", "c": [1, 2], "d_e": True}
    assert main(["inspect", "csv", toy.path]) == 2  # the CSV reader needs columns
    assert "seqloaders inspect: error" in capsys.readouterr().err
