"""Every code block of README.md runs as written (see ``tests/readmeblocks.py`` for the rules).

The blocks run in order in one temporary folder, each a test of its own (``-k`` on one of them
runs it without the blocks it may depend on). A block marked ``<!-- readme-test: skip (why) -->``
is reported as skipped with its reason, and a skipped block must still parse (Python's
``compile``, ``bash -n``). The docs/ images the README shows are checked against what their
documented command draws now.
"""

from __future__ import annotations

import os
import subprocess
import time

import cv2
import numpy as np
import pytest
from readmeblocks import (
    README,
    REPO,
    Block,
    PythonSession,
    docs_images,
    drawn_with,
    prepare,
    read_blocks,
    render_docs_image,
    run_shell,
    summary,
)

with open(README, encoding="utf-8") as _f:
    TEXT = _f.read()
BLOCKS = read_blocks(TEXT)
SECONDS: dict[str, float] = {}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The folder the blocks share, and the one interpreter of the Python blocks."""
    folder = str(tmp_path_factory.mktemp("readme"))
    prepare(folder)
    python = PythonSession(folder)
    yield folder, python
    python.close()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_block_runs_as_written(block: Block, session):
    folder, python = session
    if block.skip:
        if block.language == "python":
            compile(block.code, f"README.md:{block.line}", "exec")  # a skipped block still parses
        else:
            done = subprocess.run(["bash", "-n", "-c", block.code], capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"README.md:{block.line}: {done.stderr}"
        pytest.skip(f"README.md:{block.line} ({block.section}): {block.skip}")
    start = time.perf_counter()
    if block.language == "python":
        ok, output = python.run(block)
        assert ok, f"README.md:{block.line} ({block.section}) raised:\n{output}"
    else:
        status, output = run_shell(block, folder)
        assert status == block.exit_status, (f"README.md:{block.line} ({block.section}) exited with {status}, "
                                             f"expected {block.exit_status}:\n{output}")
    SECONDS[block.name] = time.perf_counter() - start


def test_readme_blocks_summary(capsys):
    """Not a check: prints what ran, how long it took and what was skipped (shown with ``-s``)."""
    with capsys.disabled():
        print("\n" + summary(BLOCKS, SECONDS))


def test_block_parser_reads_markers_languages_and_lines():
    text = ("# Title\n\n```bash\necho hi\n```\n\n## Part\n<!-- readme-test: skip (needs the (real) data) -->\n"
            "```python\nx = 1\n```\n```\noutput, not run\n```\n<!-- readme-test: exit-status 1 (it fails) -->\n"
            "```sh\nfalse\n```\n")
    blocks = read_blocks(text)
    assert [(b.language, b.line, b.section, b.skip, b.exit_status) for b in blocks] == [
        ("shell", 4, "Title", None, 0), ("python", 10, "Part", "needs the (real) data", 0),
        ("shell", 17, "Part", None, 1)]
    assert blocks[1].code == "x = 1\n"
    with pytest.raises(ValueError, match=r"README.md:1: a skip marker needs a reason"):
        read_blocks("<!-- readme-test: skip -->\n```python\nx\n```\n")
    with pytest.raises(ValueError, match=r"README.md:1: a readme-test marker must come right before a fence"):
        read_blocks("<!-- readme-test: skip (x) -->\ntext\n```python\nx\n```\n")
    with pytest.raises(ValueError, match="unclosed code fence"):
        read_blocks("```python\nx\n")


def test_every_skip_says_why_and_only_external_needs_are_skipped():
    skipped = [b for b in BLOCKS if b.skip]
    assert len(skipped) < len(BLOCKS) / 2, [b.name for b in skipped]
    for block in skipped:
        assert len(block.skip.split()) >= 2, f"README.md:{block.line}: say why the block is skipped"


@pytest.mark.parametrize("path", sorted(docs_images(TEXT, BLOCKS)))
def test_docs_image_is_what_its_documented_command_draws(path, tmp_path):
    """``make docs`` writes these; the committed file must match the README's command today."""
    block = docs_images(TEXT, BLOCKS)[path]
    assert not block.skip, f"README.md:{block.line}: the command behind {path} must run in the tests"
    drawn = cv2.imread(render_docs_image(path, block, str(tmp_path)), cv2.IMREAD_UNCHANGED)
    committed = cv2.imread(os.path.join(REPO, path), cv2.IMREAD_UNCHANGED)
    assert committed is not None, f"{path} is missing: run make docs"
    assert drawn.shape == committed.shape, f"{path}: {committed.shape} committed, {drawn.shape} drawn; run make docs"
    differ = (np.abs(drawn.astype(np.int16) - committed.astype(np.int16)) > 16).mean()
    release = drawn_with().get(path, {}).get("opencv")
    if release == cv2.__version__:
        assert differ < 1e-3, (f"{path}: {differ:.2%} of the pixel values differ from what README.md:{block.line} "
                               "draws; run make docs")
    else:
        # Another OpenCV rounds some pixels differently (5.0.0 -> 5.1.0: 0.34% of the values); a changed command,
        # seed or augmentation changes most of the picture (another seed: 75%).
        assert differ < 0.02, (f"{path}: {differ:.2%} of the pixel values differ from what README.md:{block.line} "
                               f"draws (drawn with OpenCV {release}, this is {cv2.__version__}); run make docs")
