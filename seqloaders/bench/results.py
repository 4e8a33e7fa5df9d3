"""What a benchmark run measured, and its rendering as a plain-text table and a Markdown page."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import Any

from .config import FIT_BEST, TF_DATA_VARIANTS, VARIANTS, BenchConfig, variant_text
from .machine import BUSY_WARNING

__all__ = ["RATIOS", "BenchResult", "MemoryCheck", "VariantResult", "write_results"]

#: (name, numerator, denominator, goal or None, what it shows); "b*" and "g*" mean the best of them.
RATIOS: tuple[tuple[str, str, str, float | None, str], ...] = (
    ("(d)/(a)", "d", "a", 0.9, "loader vs the decode ceiling"),
    ("(d)/(b)", "d", "b*", 1.1, "loader vs tf.data's best"),
    ("(d)/(b) unstalled", "d", "b*~", 1.1, "vs tf.data's unstalled epochs"),
    ("(d)/(b4)", "d", "b4", None, "vs tf.data decoding all at 1/4, below the output size for some files"),
    ("(e)/(c')", "e", "c-aug", 3.0, "augmented loader vs the usual full-size augmentation"),
    ("(e')/(c')", "e-alb", "c-aug", None, "the same albumentations pipeline, at the output size"),
    ("(e-user)/(c')", "e-user", "c-aug", 3.0, "your albumentations Compose on worker processes"),
    ("(e-user)/(e')", "e-user", "e-alb", None, "worker processes vs threads, albumentations"),
    ("(e-proc)/(e)", "e-proc", "e", None, "worker processes vs threads, native augmentation"),
    ("(d-proc)/(d)", "d-proc", "d", None, "worker processes vs threads, no augmentation"),
    ("(e)/(c)", "e", "c", None, "augmented loader vs the plain tutorial loader"),
    ("(d)/(c)", "d", "c", None, "loader vs the tutorial loader"),
    ("(f)/(d)", "f", "d", None, "TFRecord shards vs files"),
    ("(g)/(d)", "g*", "d", 0.7, "inside model.fit (best (g) variant)"),
    ("(g)/(d) fit defaults", "g", "d", 0.8, "model.fit(seq), fit's defaults (shuffle=True), TensorFlow"),
    ("(g-u8)/(d) fit defaults", "g-u8", "d", 0.8, "the same, uint8 batches, TensorFlow"),
    ("(g)/(d) JAX", "g@jax", "d", 0.8, "model.fit(seq), fit's defaults, KERAS_BACKEND=jax"),
    ("(g-u8)/(d) JAX", "g-u8@jax", "d", 0.8, "the same, uint8 batches, KERAS_BACKEND=jax"),
    ("(g)/(d) PyTorch", "g@torch", "d", 0.8, "model.fit(seq), fit's defaults, KERAS_BACKEND=torch"),
    ("(g-u8)/(d) PyTorch", "g-u8@torch", "d", 0.8, "the same, uint8 batches, KERAS_BACKEND=torch"),
    ("(g-proc)/(d-proc)", "g-proc", "d-proc", None, "inside model.fit, worker processes"),
    ("(g')/(d)", "g-conv", "d", None, "inside model.fit, a model step that takes the CPU too"),
)


@dataclasses.dataclass
class VariantResult:
    """One variant at one worker count.

    Attributes:
        variant: the variant key.
        workers: the worker count.
        epoch_seconds: wall time of each measured epoch.
        warmup_seconds: wall time of each warm-up epoch.
        images_per_epoch: images delivered per epoch.
        peak_rss_mb: peak resident memory of the process (MiB), None if unknown.
        base_rss_mb: resident memory before the first epoch (after imports and set-up).
        isolated: measured in a process of its own.
        stall_factor: see :class:`BenchConfig`.
        notes: remarks (decode scales used, stalls, ...).
        error: why the variant did not run ("n/a: ..." when it does not apply), else None.
    """

    variant: str
    workers: int
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)
    warmup_seconds: list[float] = dataclasses.field(default_factory=list)
    images_per_epoch: int = 0
    peak_rss_mb: float | None = None
    base_rss_mb: float | None = None
    isolated: bool = True
    stall_factor: float = 2.0
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.epoch_seconds)

    @property
    def rates(self) -> list[float]:
        """Images/s of each measured epoch."""
        return [self.images_per_epoch / s for s in self.epoch_seconds if s > 0]

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.ok else math.nan

    @property
    def low(self) -> float:
        return min(self.rates) if self.ok else math.nan

    @property
    def high(self) -> float:
        return max(self.rates) if self.ok else math.nan

    @property
    def stalled(self) -> list[int]:
        """Indices of measured epochs slower than ``stall_factor`` × the fastest one.

        The reference is the fastest epoch, not the median: when most epochs stall, the median
        is itself a stalled epoch and would hide them.
        """
        if not self.ok:
            return []
        fastest = min(self.epoch_seconds)
        return [k for k, s in enumerate(self.epoch_seconds) if s > self.stall_factor * fastest]

    @property
    def unstalled_median(self) -> float:
        """Median images/s over the epochs that did not stall."""
        stalled = set(self.stalled)
        rates = [r for k, r in enumerate(self.rates) if k not in stalled]
        return statistics.median(rates) if rates else math.nan

    def summary(self) -> str:
        """One line for progress logs."""
        if not self.ok:
            return f"{variant_text(self.variant)}, {_workers_text(self.workers)}: {self.error}"
        rss = f", peak RSS {self.peak_rss_mb:.0f} MiB" if self.peak_rss_mb else ""
        return (f"{variant_text(self.variant)}, {_workers_text(self.workers)}: {self.median:.0f} images/s "
                f"[{self.low:.0f}-{self.high:.0f}]{rss}")


@dataclasses.dataclass
class MemoryCheck:
    """Peak RSS of (d) on N samples and on ``factor`` × N samples (same files, distinct records)."""

    workers: int
    factor: int
    num_images: int
    small: VariantResult
    large: VariantResult

    @property
    def growth(self) -> float:
        """Relative growth of peak RSS (0.05 = 5% more)."""
        if not (self.small.peak_rss_mb and self.large.peak_rss_mb):
            return math.nan
        return self.large.peak_rss_mb / self.small.peak_rss_mb - 1.0


@dataclasses.dataclass
class BenchResult:
    """Everything one benchmark run measured; render it with :meth:`table` or :meth:`markdown`."""

    config: BenchConfig
    dataset: dict[str, Any]
    machine: dict[str, Any]
    results: list[VariantResult]
    memory: MemoryCheck | None = None
    started: str = ""
    elapsed_s: float = 0.0
    quick: bool = False
    command: str = "python benchmarks/bench_throughput.py"

    def get(self, variant: str, workers: int) -> VariantResult | None:
        """The result of ``variant`` at ``workers``; ``"b*"``/``"g*"`` pick the best of the family."""
        family = {"b*": TF_DATA_VARIANTS, "b*~": TF_DATA_VARIANTS, "g*": FIT_BEST}.get(variant)
        if family is None:
            return next((r for r in self.results if r.variant == variant and r.workers == workers), None)
        runs = [r for r in self.results if r.variant in family and r.workers == workers and r.ok]
        return max(runs, key=lambda r: r.median) if runs else None

    def ratio(self, numerator: str, denominator: str, workers: int) -> tuple[float, str]:
        """(ratio of median images/s, which variants), NaN when one side is missing."""
        num, den = self.get(numerator, workers), self.get(denominator, workers)
        if num is None or den is None or not (num.ok and den.ok):
            return math.nan, ""
        den_rate = den.unstalled_median if denominator.endswith("~") else den.median
        return num.median / den_rate, f"{num.variant}/{den.variant}"

    # -- rendering ---------------------------------------------------------------------------

    def _header(self) -> list[str]:
        c, d = self.config, self.dataset
        isolation = (f"each run in a fresh process{', pinned to `workers` cores' if c.pin_cores else ''}"
                     if c.isolate else "all runs in one process (peak RSS is the process's peak so far)")
        lines = [
            f"dataset: {d.get('description', '?')}",
            f"output {c.image_size[0]}x{c.image_size[1]}, batch {c.batch_size}, grid {c.grid_size}; "
            f"{c.epochs} measured epoch(s) after {c.warmup} warm-up"
            + (f" in each of {c.rounds} rounds over all variants (their epochs pooled)" if c.rounds > 1 else "")
            + f"; images/s as median [min-max]; {isolation}",
        ]
        if self.quick:
            lines.append("QUICK MODE: a tiny set and one epoch; the numbers only show that the benchmark runs")
        busy = self.machine.get("cpu_busy_start")
        load = self.machine.get("load_average_start")
        cores = self.machine.get("usable_cores") or 1
        if busy is not None:  # measured: what other processes used while this one slept
            if busy > BUSY_WARNING:
                lines.append(f"WARNING: other processes used {busy:.0%} of the CPU just before the run: they "
                             "compete for it and the numbers are not reliable")
        elif load and load[0] > 0.3 * cores:
            lines.append(f"WARNING: load average {load[0]:.2f} on {cores} cores at the start: other processes "
                         "compete for the CPU and the numbers are not reliable")
        return lines

    def _rows(self) -> list[list[str]]:
        rows = []
        for variant in self.config.variants:
            for w in self.config.workers:
                r = self.get(variant, w)
                if r is None:
                    continue
                if not r.ok:
                    rows.append([variant_text(variant), str(w), r.error or "no result", "", "", "", ""])
                    continue
                rss = f"{r.peak_rss_mb:.0f}" + ("" if r.isolated else "*") if r.peak_rss_mb else "?"
                grown = f"{r.peak_rss_mb - r.base_rss_mb:.0f}" if r.peak_rss_mb and r.base_rss_mb else "?"
                stalls = ", ".join(str(k + 1) for k in r.stalled) or "-"
                rows.append([variant_text(variant), str(w), f"{r.median:.0f}", f"[{r.low:.0f}-{r.high:.0f}]", rss,
                             grown,
                             stalls])
        return rows

    def _ratio_rows(self) -> list[list[str]]:
        rows = []
        for name, num, den, goal, what in RATIOS:
            cells = []
            for w in self.config.workers:
                value, which = self.ratio(num, den, w)
                if math.isnan(value):
                    cells.append("n/a")
                    continue
                mark = "" if goal is None else (" ok" if value >= goal else " MISS")
                detail = f" ({which})" if ("*" in num or "*" in den) else ""
                cells.append(f"{value:.2f}{mark}{detail}")
            if all(c == "n/a" for c in cells):
                continue
            rows.append([name, *cells, f">= {goal:g}" if goal is not None else "-", what])
        return rows

    def _scaling_lines(self) -> list[str]:
        """Images/s at the most workers over the fewest, per variant (how it scales with cores)."""
        if len(self.config.workers) < 2:
            return []
        low, high = min(self.config.workers), max(self.config.workers)
        lines = []
        for variant in self.config.variants:
            a, b = self.get(variant, low), self.get(variant, high)
            if a is not None and b is not None and a.ok and b.ok and a.median:
                lines.append(f"{variant_text(variant)}: {b.median / a.median:.2f}x")
        return lines

    def _memory_lines(self) -> list[str]:
        lines = []
        m = self.memory
        if m is not None:
            if m.small.ok and m.large.ok and not math.isnan(m.growth):
                verdict = "ok" if m.growth < 0.10 else "MISS"
                lines.append(f"peak RSS of (d) with {_workers_text(m.workers)}: {m.num_images} images "
                             f"{m.small.peak_rss_mb:.0f} MiB, {m.factor}x ({m.num_images * m.factor} images) "
                             f"{m.large.peak_rss_mb:.0f} MiB: {m.growth:+.1%} (goal < +10%: {verdict})")
                lines.append(f"  the {m.factor}x set lists the same {m.num_images} files {m.factor} times "
                             "(the annotations parsed again each time, so the records are distinct)")
            else:
                lines.append(f"memory check failed: {m.large.error or m.small.error}")
        for w in self.config.workers:
            d, b = self.get("d", w), self.get("b*", w)
            if d is not None and b is not None and d.ok and b.ok and d.peak_rss_mb and b.peak_rss_mb:
                verdict = "ok" if d.peak_rss_mb < b.peak_rss_mb else "MISS"
                lines.append(f"peak RSS, {_workers_text(w)}: (d) {d.peak_rss_mb:.0f} MiB vs tf.data ({b.variant}) "
                             f"{b.peak_rss_mb:.0f} MiB (goal: below tf.data: {verdict})")
        return lines

    def _epoch_lines(self) -> list[str]:
        lines = []
        for r in self.results:
            if r.ok:
                stalled = f"  stalled: epoch {', '.join(str(k + 1) for k in r.stalled)}" if r.stalled else ""
                warm = ", ".join(f"{s:.2f}" for s in r.warmup_seconds)
                lines.append(f"{variant_text(r.variant)}, {r.workers}w: "
                             f"{', '.join(f'{s:.2f}' for s in r.epoch_seconds)} s"
                             f"{f' (warm-up {warm} s)' if warm else ''}{stalled}")
                lines += [f"    {note}" for note in r.notes]
        return lines

    def table(self) -> str:
        """The result as plain text: throughput table, ratios, memory, per-epoch times."""
        head = ["variant", "workers", "images/s", "[min-max]", "peak RSS MiB", "+ over set-up", "stalled epochs"]
        out = ["seqloaders throughput benchmark", *self._header(), "",
               _text_table(head, self._rows(), right=(1, 2, 3, 4, 5)), _RSS_NOTE, ""]
        ratio_head = ["ratio", *[f"workers={w}" for w in self.config.workers], "goal", "shows"]
        ratio_rows = self._ratio_rows()
        if ratio_rows:
            out += ["Ratios of median images/s (same run, same files):",
                    _text_table(ratio_head, ratio_rows), ""]
        scaling = self._scaling_lines()
        if scaling:
            out += [f"Scaling, {max(self.config.workers)} workers over {min(self.config.workers)}:", *scaling, ""]
        memory = self._memory_lines()
        if memory:
            out += ["Memory:", *memory, ""]
        out += ["Epoch times (measured epochs; a stall is an epoch slower than "
                f"{self.config.stall_factor:g}x the run's fastest):", *self._epoch_lines()]
        if any(not r.isolated for r in self.results):
            out.append("* RSS measured in a shared process: the peak of everything run before it")
        return "\n".join(out)

    def markdown(self) -> str:
        """The result as a Markdown page (``benchmarks/RESULTS.md``), with the machine's description."""
        m = self.machine
        head = ["variant", "workers", "images/s", "min-max", "peak RSS (MiB)", "+ over set-up (MiB)",
                "stalled epochs"]
        rows = [[*r[:3], r[3].strip("[]"), *r[4:]] for r in self._rows()]
        out = ["# seqloaders throughput benchmark", "",
               f"Measured {self.started}, in {self.elapsed_s / 60:.1f} min, with `{self.command}`.", "",
               "## Machine", "",
               f"- CPU: {m.get('cpu_model', '?')}; {m.get('logical_cores', '?')} logical cores "
               f"({m.get('usable_cores', '?')} usable by this process{_quota_text(m)})",
               f"- RAM: {m.get('ram_gib', '?')} GiB; {m.get('platform', '?')}; Python {m.get('python', '?')}",
               f"- load average at start / end: {_load_text(m.get('load_average_start'))} / "
               f"{_load_text(m.get('load_average_end'))}",
               f"- CPU used by other processes just before / after (1 s sample of /proc/stat): "
               f"{_busy_text(m.get('cpu_busy_start'))} / {_busy_text(m.get('cpu_busy_end'))}",
               "- versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()), "",
               "## Set-up", "", *[f"- {line}" for line in self._header()], "",
               "## Throughput", "", _markdown_table(head, rows), "", _RSS_NOTE, ""]
        ratio_rows = self._ratio_rows()
        if ratio_rows:
            out += ["## Ratios", "", _markdown_table(["ratio", *[f"workers={w}" for w in self.config.workers],
                                                       "goal", "shows"], ratio_rows), ""]
        scaling = self._scaling_lines()
        if scaling:
            out += [f"## Scaling: {max(self.config.workers)} workers over {min(self.config.workers)}", "",
                    *[f"- {line}" for line in scaling], ""]
        memory = self._memory_lines()
        if memory:
            out += ["## Memory", "", *[f"- {line.strip()}" for line in memory], ""]
        out += ["## Epoch times", "", f"A stall is an epoch slower than {self.config.stall_factor:g}x the run's "
                "fastest.", "", "```", *self._epoch_lines(), "```", "",
                "## Variants", "", *[f"- `{k}`: {v}" for k, v in VARIANTS.items()],
                "- `<variant>@<backend>`: a (g) variant under KERAS_BACKEND=<backend>", "",
                "![images/s by workers](throughput.png)", ""]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dump (raw epoch times included)."""
        return {
            "config": dataclasses.asdict(self.config), "dataset": self.dataset, "machine": self.machine,
            "results": [dataclasses.asdict(r) for r in self.results],
            "memory": None if self.memory is None else {
                "workers": self.memory.workers, "factor": self.memory.factor, "num_images": self.memory.num_images,
                "small": dataclasses.asdict(self.memory.small), "large": dataclasses.asdict(self.memory.large)},
            "started": self.started, "elapsed_s": self.elapsed_s, "quick": self.quick, "command": self.command,
        }



_RSS_NOTE = ("peak RSS: the whole process (Python, TensorFlow, the samples); + over set-up: its growth after "
             "imports and set-up, i.e. what the loading itself holds")


def _workers_text(workers: int) -> str:
    return f"{workers} worker{'' if workers == 1 else 's'}"


def _quota_text(machine: dict[str, Any]) -> str:
    quota = machine.get("cgroup_cpu_quota")
    return f", cgroup quota {quota} CPUs" if quota else ""


def _busy_text(busy: float | None) -> str:
    return "?" if busy is None else f"{busy:.1%}"


def _load_text(load: Sequence[float] | None) -> str:
    return " ".join(f"{x:.2f}" for x in load) if load else "?"


def _text_table(head: list[str], rows: list[list[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(str(r[k])) for r in [head, *rows]) for k in range(len(head))]

    def fmt(row):
        return "  ".join(str(c).rjust(widths[k]) if k in right else str(c).ljust(widths[k])
                         for k, c in enumerate(row)).rstrip()

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *[fmt(r) for r in rows]])


def _markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(result: BenchResult, path: str) -> None:
    """Write :meth:`BenchResult.markdown` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(result.markdown())
