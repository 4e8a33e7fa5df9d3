"""Run the README's code blocks as written, and regenerate the docs/ images from them.

The fenced ``python`` and ``bash``/``sh`` blocks of README.md are run in order in one folder:
the Python blocks in one interpreter (one namespace, as if pasted into one session), the shell
blocks with the interpreter's ``bin`` folder first on ``PATH`` (so ``python`` and ``seqloaders``
are the ones under test). A block is skipped only when an HTML comment right before its fence
says so, with the reason::

    <!-- readme-test: skip (needs the real WIDER FACE) -->

and a shell block that is meant to fail states its exit status the same way::

    <!-- readme-test: exit-status 1 (check finds the truncated image) -->

``tests/test_readme.py`` runs the blocks; ``make docs`` (``python tests/readmeblocks.py --write-docs``)
rewrites each ``docs/*.png`` the README shows from the block before it that writes that file.

Run from the command line::

    python tests/readmeblocks.py --list          # the blocks, and why any is skipped
    python tests/readmeblocks.py --write-docs    # regenerate docs/*.png from their README commands
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
#: which OpenCV release drew each docs/ image: pixels differ a little from one release to the next
DRAWN_WITH = os.path.join(REPO, "docs", "drawn-with.json")

PYTHON = ("python", "py", "python3")
SHELL = ("bash", "sh", "shell")
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<what>skip|exit-status\s+(?P<status>\d+))\s*"
                     r"(?:\((?P<reason>.*)\))?\s*-->\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<path>docs/[^)\s]+\.png)\)")
_SENTINEL = "\x1e<<readme-block-done>>"

#: What the blocks run with: quiet TensorFlow, no albumentations update check, no display.
ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg",
               "PYTHONUNBUFFERED": "1"}


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of the README.

    Attributes:
        index: its position among the runnable (python and shell) blocks, from 0.
        language: ``"python"`` or ``"shell"``.
        code: the text between the fences.
        line: the 1-based README line of its first code line.
        section: the heading it sits under.
        skip: the reason it is not run, or None when it runs.
        exit_status: the exit status a shell block must end with.
    """

    index: int
    language: str
    code: str
    line: int
    section: str
    skip: str | None = None
    exit_status: int = 0

    @property
    def name(self) -> str:
        """A test id: position, language, line and section."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")[:40]
        return f"{self.index:02d}-{self.language}-L{self.line}-{slug}"


def read_blocks(text: str) -> list[Block]:
    """The python and shell blocks of a Markdown text, in order, with their skip markers.

    Args:
        text: the Markdown.

    Returns:
        The blocks; fences of other languages (or none, like program output) are left out.

    Raises:
        ValueError: a ``readme-test`` marker that is not right before a fence, a ``skip`` without
            a reason, or an unclosed fence.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    section, marker, marker_line = "", None, 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        found = _MARKER.match(line)
        if found:
            if found["what"] == "skip" and not (found["reason"] or "").strip():
                raise ValueError(f"README.md:{i + 1}: a skip marker needs a reason: <!-- readme-test: skip (why) -->")
            marker, marker_line = found, i + 1
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence:
            if marker is not None and line.strip():
                raise ValueError(f"README.md:{marker_line}: a readme-test marker must come right before a fence")
            i += 1
            continue
        close = re.compile(rf"^ {{0,3}}{re.escape(fence['fence'][0])}{{{len(fence['fence'])},}}\s*$")
        end = next((k for k in range(i + 1, len(lines)) if close.match(lines[k])), None)
        if end is None:
            raise ValueError(f"README.md:{i + 1}: unclosed code fence")
        info = fence["info"].strip().split()
        language = info[0].lower() if info else ""
        kind = "python" if language in PYTHON else "shell" if language in SHELL else None
        if kind is None and marker is not None:
            raise ValueError(f"README.md:{marker_line}: a readme-test marker before a block that is not run")
        if kind is not None:
            skip = status = None
            if marker is not None:
                skip = marker["reason"].strip() if marker["what"] == "skip" else None
                status = int(marker["status"]) if marker["status"] else None
            blocks.append(Block(len(blocks), kind, "\n".join(lines[i + 1:end]) + "\n", i + 2, section, skip,
                                status or 0))
        marker = None
        i = end + 1
    return blocks


def environment(folder: str) -> dict[str, str]:
    """The environment of the blocks: this interpreter's ``bin`` first on PATH, caches in ``folder``."""
    env = {**os.environ, **ENVIRONMENT}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["SEQLOADERS_CACHE_DIR"] = os.path.join(folder, ".cache", "seqloaders")
    env.pop("PYTHONPATH", None)
    return env


def prepare(folder: str) -> None:
    """Make ``folder`` look like a checkout for the blocks: a copy of ``examples/`` (class maps)."""
    shutil.copytree(os.path.join(REPO, "examples"), os.path.join(folder, "examples"), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))


def run_shell(block: Block, folder: str, timeout: float = 300) -> tuple[int, str]:
    """Run a shell block with ``bash -e -o pipefail`` in ``folder``; returns (exit status, output)."""
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=folder, env=environment(folder),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return done.returncode, done.stdout


_DRIVER = r"""
import sys, traceback
namespace = {"__name__": "__main__"}
while True:
    header = sys.stdin.readline()
    if not header:
        break
    line, size = (int(v) for v in header.split())
    code = sys.stdin.read(size)
    ok = True
    try:
        exec(compile("\n" * (line - 1) + code, "README.md", "exec"), namespace)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        ok = False
    sys.stdout.flush()
    sys.stderr.flush()
    print(SENTINEL + ("ok" if ok else "failed"), flush=True)
"""


class PythonSession:
    """One interpreter that runs Python blocks one after the other in one namespace.

    Tracebacks name ``README.md`` and the README's own line numbers.
    """

    def __init__(self, folder: str):
        self._process = subprocess.Popen([sys.executable, "-c", f"SENTINEL = {_SENTINEL!r}\n" + _DRIVER], cwd=folder,
                                         env=environment(folder), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def run(self, block: Block, timeout: float = 300) -> tuple[bool, str]:
        """Run one block; returns (it raised nothing, its output)."""
        self._process.stdin.write(f"{block.line} {len(block.code)}\n{block.code}")
        self._process.stdin.flush()
        output, deadline = [], time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._process.kill()
                self.close()
                return False, "".join(output) + f"\n(timed out after {timeout:.0f} s)"
            if line is None:
                return False, "".join(output) + f"\n(the interpreter exited with status {self._process.wait()})"
            if line.startswith(_SENTINEL):
                return line.strip().endswith("ok"), "".join(output)
            output.append(line)

    def close(self) -> None:
        """Stop the interpreter and close its pipes."""
        if not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=10)
        self._process.stdout.close()


def docs_images(text: str, blocks: list[Block] | None = None) -> dict[str, Block]:
    """Each ``docs/*.png`` the README shows → the shell block before it that writes that file name.

    Raises:
        ValueError: an image with no such block before it.
    """
    blocks = read_blocks(text) if blocks is None else blocks
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        for found in _IMAGE.finditer(line):
            path = found["path"]
            name = os.path.basename(path)
            writers = [b for b in blocks if b.line < number and b.language == "shell" and
                       re.search(rf"(^|[\s=/]){re.escape(name)}(\s|$)", b.code)]
            if not writers:
                raise ValueError(f"README.md:{number}: no shell block before the image {path} writes {name}")
            out[path] = writers[-1]
    return out


def render_docs_image(path: str, block: Block, folder: str) -> str:
    """Run ``block`` in an empty ``folder``; returns the path of the image it wrote for ``path``.

    Raises:
        RuntimeError: the block failed or wrote no such file.
    """
    prepare(folder)
    status, output = run_shell(block, folder)
    written = os.path.join(folder, os.path.basename(path))
    if status != block.exit_status or not os.path.isfile(written):
        raise RuntimeError(f"README.md:{block.line}: the command for {path} failed (status {status}) or wrote no "
                           f"{os.path.basename(path)}:\n{output}")
    return written


def write_docs(readme: str = README, repo: str = REPO) -> Iterator[tuple[str, Block]]:
    """Regenerate every ``docs/*.png`` of the README from its command; yields what was written."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    import cv2  # only here: listing the blocks needs no OpenCV

    record = os.path.join(repo, os.path.relpath(DRAWN_WITH, REPO))
    drawn = drawn_with(record)
    for path, block in docs_images(text).items():
        with tempfile.TemporaryDirectory() as folder:
            written = render_docs_image(path, block, folder)
            shutil.copyfile(written, os.path.join(repo, path))
        drawn[path] = {"opencv": cv2.__version__}
        with open(record, "w", encoding="utf-8") as f:
            json.dump(drawn, f, indent=2, sort_keys=True)
            f.write("\n")
        yield path, block


def drawn_with(record: str = DRAWN_WITH) -> dict[str, dict[str, str]]:
    """``{docs image: {"opencv": release}}`` as ``make docs`` last recorded it (empty when never)."""
    if not os.path.isfile(record):
        return {}
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def main(argv: list[str] | None = None) -> int:
    """``--list`` the blocks, or ``--write-docs``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the blocks and why any is skipped")
    parser.add_argument("--write-docs", action="store_true", help="regenerate docs/*.png from their README commands")
    args = parser.parse_args(argv)
    with open(README, encoding="utf-8") as f:
        text = f.read()
    if args.list or not args.write_docs:
        for block in read_blocks(text):
            state = f"skipped: {block.skip}" if block.skip else "runs"
            print(f"README.md:{block.line}  {block.language:<6}  {block.section}: {state}")
    if args.write_docs:
        for path, block in write_docs():
            print(f"wrote {path} from README.md:{block.line}")
    return 0


def summary(blocks: list[Block], seconds: Mapping[str, float]) -> str:
    """What ran (with its time) and what was skipped, one line each."""
    lines = []
    for block in blocks:
        state = f"skipped: {block.skip}" if block.skip else f"{seconds.get(block.name, 0.0):.1f} s"
        lines.append(f"README.md:{block.line} {block.language} ({block.section}): {state}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
