"""The bar chart of bench/RESULTS.md: fastinfer/ONNX Runtime latency ratio per model and configuration,
with a line at 1.0 (below it fastinfer is faster). Needs matplotlib (in the ``bench`` extra)."""

from __future__ import annotations

from collections.abc import Sequence


def write_chart(rows: Sequence[dict], path: str, title: str = "") -> str | None:
    """Writes a PNG bar chart to ``path`` from rows with keys model, batch, threads and ratio (None:
    no bar). Returns None when written, or the reason it was not (matplotlib missing, no ratios)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 'matplotlib is not installed (pip install ".[bench]")'
    models = list(dict.fromkeys(r["model"] for r in rows))
    configs = sorted({(r["batch"], r["threads"]) for r in rows})
    if not models or not any(r.get("ratio") for r in rows):
        return "no ratio to plot"
    ratio = {(r["model"], r["batch"], r["threads"]): r.get("ratio") for r in rows}
    width = 0.8 / len(configs)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(models) + 2), 4.8), dpi=110)
    colors = plt.get_cmap("tab10")
    for j, (b, t) in enumerate(configs):
        xs, ys = [], []
        for i, m in enumerate(models):
            v = ratio.get((m, b, t))
            if v:
                xs.append(i + (j - (len(configs) - 1) / 2) * width)
                ys.append(v)
        ax.bar(xs, ys, width, label=f"batch {b}, {t} thread{'s' if t > 1 else ''}", color=colors(j))
    ax.axhline(1.0, color="black", linewidth=1.0)
    ax.axhline(0.95, color="gray", linewidth=0.8, linestyle="--", label="target 0.95")
    top = max(v for v in ratio.values() if v)
    ax.set_ylim(0, max(1.1, top) * 1.05)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=30, ha="right")
    ax.set_ylabel("fastinfer / ONNX Runtime median latency")
    ax.set_title(title or "fastinfer vs ONNX Runtime (below 1: fastinfer faster)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return None
