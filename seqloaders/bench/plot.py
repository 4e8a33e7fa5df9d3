"""The benchmark's plot: images/s by worker count, one line per variant (needs matplotlib, the ``bench`` extra)."""

from __future__ import annotations

from .config import BACKENDS, VARIANTS, split_variant, variant_text
from .results import BenchResult

__all__ = ["plot_results"]


def plot_results(result: BenchResult, path: str) -> None:
    """Save a PNG of median images/s (with min-max bars) by worker count, one line per variant.

    Uses matplotlib's Agg canvas directly (no pyplot, no change of the global backend).
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    markers = "osD^v<>phX*P"
    tab20 = matplotlib.colormaps["tab20"].colors
    palette = tab20[::2] + tab20[1::2]  # the 10 strong colours first, then their light twins
    styles = {"a": "-", "b": "--", "c": ":", "g": "-."}
    order = list(VARIANTS)
    for variant in result.config.variants:
        base, backend = split_variant(variant)
        k = order.index(base) + len(order) * (BACKENDS.index(backend) if backend else 0)  # a variant's colour
        runs = [r for w in result.config.workers if (r := result.get(variant, w)) is not None and r.ok]
        if not runs:
            continue
        xs = [r.workers for r in runs]
        ys = [r.median for r in runs]
        err = [[r.median - r.low for r in runs], [r.high - r.median for r in runs]]
        ax.errorbar(xs, ys, yerr=err, marker=markers[k % len(markers)], capsize=3, label=variant_text(variant),
                    color=palette[k % len(palette)],
                    linestyle=styles.get(variant[0], "-"), linewidth=2.5 if variant in ("a", "d") else 1.5)
    ax.set_xticks(list(result.config.workers))
    ax.set_xlabel("workers (cores)")
    ax.set_ylabel("images/s (median, min-max)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    title = f"{result.dataset.get('description', '')}\n{result.machine.get('cpu_model', '')}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=110, bbox_inches="tight")
