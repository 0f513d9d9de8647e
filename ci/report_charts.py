"""The pipeline report's charts: matplotlib figures rendered in memory to PNG bytes."""

import io

import matplotlib

# Agg before pyplot: a Jenkins agent has no display, and pyplot would otherwise pick an interactive backend.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURE_SIZE = (5, 3.2)
DPI = 100
STATUS_COLOURS = {"passed": "#1e8e3e", "failed": "#d93025", "skipped": "#f9ab00", "not run": "#bdc1c6"}
ACCENT = "#1a73e8"
MUTED = "#5f6368"


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    # pyplot keeps every figure alive until it is closed; a long-lived process would grow with each report.
    plt.close(figure)
    return buffer.getvalue()


def _figure(size: tuple[float, float] = FIGURE_SIZE):
    figure, axes = plt.subplots(figsize=size, layout="constrained")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=MUTED, labelsize=8)
    return figure, axes


def stage_durations_chart(stages: list[tuple[str, float | None, str]]) -> bytes:
    """Horizontal bars of (stage, seconds, status), first stage on top, coloured by status."""
    figure, axes = _figure((4.6, 0.4 * len(stages) + 0.9))
    names = [name for name, _, _ in stages]
    seconds = [value or 0.0 for _, value, _ in stages]
    axes.barh(names, seconds, color=[STATUS_COLOURS.get(status, MUTED) for _, _, status in stages], height=0.6)
    axes.invert_yaxis()
    longest = max(seconds, default=0.0) or 1.0
    for row, (_, value, status) in enumerate(stages):
        label = f"{value:.1f} s" if value is not None and status != "not run" else status
        axes.text(seconds[row] + longest * 0.01, row, label, va="center", fontsize=8, color=MUTED)
    axes.set_xlim(0, longest * 1.15)
    axes.set_xlabel("seconds", fontsize=8, color=MUTED)
    axes.tick_params(axis="y", labelsize=9, colors="#202124")
    return _png(figure)


def confusion_matrix_chart(matrix: list[list[int]], labels: list[str]) -> bytes:
    """Counts of actual (rows) against predicted (columns) classes, annotated in each cell."""
    figure, axes = _figure((4.2, 3.4))
    image = axes.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix) or 1
    for actual, row in enumerate(matrix):
        for predicted, count in enumerate(row):
            colour = "white" if count > peak / 2 else "#202124"
            axes.text(predicted, actual, str(count), ha="center", va="center", fontsize=12, color=colour)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted", fontsize=9, color=MUTED)
    axes.set_ylabel("actual", fontsize=9, color=MUTED)
    figure.colorbar(image, ax=axes, shrink=0.8).ax.tick_params(labelsize=7, colors=MUTED)
    return _png(figure)


def roc_curve_chart(fpr: list[float], tpr: list[float], auc: float | None) -> bytes:
    """The candidate's ROC curve against the chance diagonal; the AUC goes in the legend."""
    figure, axes = _figure()
    label = f"candidate (AUC = {auc:.4f})" if auc is not None else "candidate"
    axes.plot(fpr, tpr, color=ACCENT, linewidth=2, label=label, drawstyle="steps-post")
    axes.plot([0, 1], [0, 1], color="#bdc1c6", linestyle="--", linewidth=1, label="chance")
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel("false positive rate", fontsize=9, color=MUTED)
    axes.set_ylabel("true positive rate", fontsize=9, color=MUTED)
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    return _png(figure)


def latency_histogram_chart(edges_ms: list[float], counts: list[int], p50: float | None, p95: float | None,
                            p99: float | None, budget_p95: float | None) -> bytes:
    """Single-record request latency with its percentiles and the p95 budget marked."""
    figure, axes = _figure((7, 3.2))
    widths = [high - low for low, high in zip(edges_ms, edges_ms[1:])]
    axes.bar(edges_ms[:-1], counts, width=widths, align="edge", color="#aecbfa", edgecolor="white", linewidth=0.5)
    for value, name, style in ((p50, "p50", ":"), (p95, "p95", "--"), (p99, "p99", "-.")):
        if value is not None:
            axes.axvline(value, color=ACCENT, linestyle=style, linewidth=1.2, label=f"{name} {value:.2f} ms")
    right = edges_ms[-1]
    if budget_p95 is not None and budget_p95 <= right * 1.5:
        axes.axvline(budget_p95, color=STATUS_COLOURS["failed"], linewidth=1.5, label=f"p95 budget {budget_p95:g} ms")
        right = max(right, budget_p95)
    elif budget_p95 is not None:
        # A budget far beyond every sample would squash the histogram into a sliver: name it at the edge instead.
        axes.annotate(f"p95 budget {budget_p95:g} ms →", xy=(1, 0.93), xycoords="axes fraction", ha="right",
                      fontsize=8, color=STATUS_COLOURS["failed"])
    axes.set_xlim(edges_ms[0], right * 1.04)
    axes.set_xlabel("request latency (ms)", fontsize=9, color=MUTED)
    axes.set_ylabel("requests", fontsize=9, color=MUTED)
    axes.legend(loc="center right", fontsize=8, frameon=False)
    return _png(figure)
