"""The serving benchmark's conclusions from its figures alone: ratios, targets checked with margins, the table."""

from dataclasses import dataclass

# The targets of the benchmarks issue.
MIN_RPS_RATIO = {"mlflow": 30.0, "bentoml": 10.0}
TARGET_CONCURRENCY = 16
MAX_P99_MS = 10.0
MAX_RSS_MB = 150.0
MAX_COLD_START_S = 1.0
MAX_P50_OVER_FLOOR = 10.0
# Linux delays an ACK by at least 40 ms; a health check that takes 20 ms or more at c1 is waiting on one.
STALL_THRESHOLD_MS = 20.0


@dataclass(frozen=True)
class Target:
    name: str
    target: str
    threshold: float
    at_least: bool
    unit: str


def measured(results: dict, name: str) -> dict | None:
    server = results.get(name)
    return server if server and server.get("available") else None


def rps_ratios(results: dict, peer: str) -> dict[str, float]:
    """ours / peer in 2xx req/s, at every concurrency both were loaded at."""
    ours, theirs = measured(results, "ours"), measured(results, peer)
    if not ours or not theirs:
        return {}
    ratios = {}
    for concurrency, figures in ours["loads"].items():
        peer_rps = theirs["loads"].get(concurrency, {}).get("requests_per_s", 0)
        if peer_rps > 0:
            ratios[concurrency] = round(figures["requests_per_s"] / peer_rps, 1)
    return ratios


def p50_over_floor(results: dict, floor_median_us: float) -> float | None:
    ours = measured(results, "ours")
    if not ours or "1" not in ours["loads"] or floor_median_us <= 0:
        return None
    return round(ours["loads"]["1"]["p50_ms"] * 1000 / floor_median_us, 1)


def all_ratios(results: dict, peers: list[str], floor_median_us: float) -> dict:
    ratios = {f"ours_over_{peer}_rps": rps_ratios(results, peer) for peer in peers}
    ratios["ours_c1_p50_over_in_process_predict"] = p50_over_floor(results, floor_median_us)
    return ratios


def check(target: Target, value: float | None, missing_reason: str = "") -> dict:
    """PASS/MISS with the margin: how far the measured value is on the right (+) or wrong (-) side."""
    record = {"name": target.name, "target": target.target, "measured": value}
    if value is None:
        return {**record, "status": "N/A", "margin": None, "reason": missing_reason}
    room = value - target.threshold if target.at_least else target.threshold - value
    return {**record, "status": "PASS" if room >= 0 else "MISS", "unit": target.unit,
            "margin": round(room, 3), "margin_percent": round(100 * room / target.threshold, 1)}


def evaluate_targets(results: dict, ratios: dict, peers: list[str]) -> list[dict]:
    checks = []
    key = str(TARGET_CONCURRENCY)
    for peer in ("mlflow", "bentoml"):
        target = Target(f"ours/{peer} req/s at c{key}", f">= {MIN_RPS_RATIO[peer]:g}x", MIN_RPS_RATIO[peer], True, "x")
        ratio = ratios.get(f"ours_over_{peer}_rps", {}).get(key)
        checks.append(check(target, ratio, _why_no_ratio(results, peer, peers, key)))
    ours = measured(results, "ours")
    loads = ours["loads"].values() if ours else []
    checks.append(check(Target("our p99 (worst concurrency)", f"<= {MAX_P99_MS:g} ms", MAX_P99_MS, False, "ms"),
                        max((figures["p99_ms"] for figures in loads), default=None), "our service was not measured"))
    checks.append(check(Target("our RSS (process tree, after load)", f"<= {MAX_RSS_MB:g} MB", MAX_RSS_MB, False, "MB"),
                        max((figures["rss_mb"] for figures in loads), default=None), "our service was not measured"))
    checks.append(check(Target("our cold start", f"<= {MAX_COLD_START_S:g} s", MAX_COLD_START_S, False, "s"),
                        ours["cold_start_s"] if ours else None, "our service was not measured"))
    checks.append(check(Target("our c1 p50 / in-process predict", f"<= {MAX_P50_OVER_FLOOR:g}x", MAX_P50_OVER_FLOOR,
                               False, "x"),
                        ratios.get("ours_c1_p50_over_in_process_predict"), "concurrency 1 was not measured"))
    return checks


def _why_no_ratio(results: dict, peer: str, peers: list[str], key: str) -> str:
    if peer not in peers:
        return f"{peer} not benchmarked (--peers)"
    if not measured(results, peer):
        return f"{peer} could not be measured: {results.get(peer, {}).get('reason', 'unknown').splitlines()[0]}"
    if not measured(results, "ours"):
        return "our service was not measured"
    return f"concurrency {key} was not measured"


def stall_suspected(health_p50_ms: float) -> bool:
    return health_p50_ms >= STALL_THRESHOLD_MS


# --- text ----------------------------------------------------------------------------------------------------

def format_latency(milliseconds: float) -> str:
    return f"{milliseconds * 1000:.0f} µs" if milliseconds < 1 else f"{milliseconds:.2f} ms"


TABLE_HEADER = ("server", "conc", "req/s (2xx)", "p50", "p99", "non-2xx", "sock err", "RSS MB", "procs", "cold start")


def table_rows(results: dict) -> list[tuple[str, ...]]:
    rows = []
    for server in results.values():
        if not server.get("available"):
            continue
        for concurrency, figures in server["loads"].items():
            rows.append((server["title"], concurrency, f"{figures['requests_per_s']:.1f}",
                         format_latency(figures["p50_ms"]), format_latency(figures["p99_ms"]),
                         str(figures["non_2xx"]), str(figures["socket_errors"]), f"{figures['rss_mb']:.0f}",
                         str(figures["processes"]), f"{server['cold_start_s']:.2f} s"))
    return rows


def render_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]

    def line(row) -> str:
        cells = [str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
                 for index, (cell, width) in enumerate(zip(row, widths))]
        return "  ".join(cells)

    return "\n".join([line(header), line(tuple("-" * width for width in widths)), *map(line, rows)])


def format_target(result: dict) -> str:
    if result["status"] == "N/A":
        return f"N/A   {result['name']} {result['target']}: {result['reason']}"
    unit = result["unit"]
    value = f"{result['measured']:.2f}{unit}" if unit == "x" else f"{result['measured']:.2f} {unit}"
    margin = f"{result['margin']:+.2f}{unit}" if unit == "x" else f"{result['margin']:+.2f} {unit}"
    return (f"{result['status']:<5} {result['name']}: {value} (target {result['target']}; "
            f"margin {margin}, {result['margin_percent']:+.0f}%)")


def format_ratios(ratios: dict, floor_median_us: float) -> list[str]:
    lines = []
    for key, by_concurrency in ratios.items():
        if key.endswith("_rps") and by_concurrency:
            peer = key[len("ours_over_"):-len("_rps")]
            shown = ", ".join(f"c{concurrency} {ratio:.1f}x" for concurrency, ratio in by_concurrency.items())
            lines.append(f"ours/{peer} req/s: {shown}")
    over_floor = ratios.get("ours_c1_p50_over_in_process_predict")
    if over_floor is not None:
        lines.append(f"ours c1 p50 / in-process predict ({floor_median_us:.1f} µs): {over_floor:.1f}x")
    return lines


def render_report(duration_s: float, results: dict, floor: dict, ratios: dict, targets: list[dict]) -> str:
    lines = [f"Serving benchmark: wrk {duration_s:g} s per concurrency, one JSON record per request, 127.0.0.1",
             render_table(TABLE_HEADER, table_rows(results))]
    for server in results.values():
        if not server.get("available"):
            lines.append(f"{server['title']}: NOT MEASURED - {server['reason'].splitlines()[0]}")
    lines.append(f"in-process predict floor (onnxruntime, one row): median {floor['median_us']:.1f} µs, "
                 f"p99 {floor['p99_us']:.1f} µs")
    lines += format_ratios(ratios, floor["median_us"])
    for name, server in results.items():
        if server.get("available") and not server["answer"]["agrees"]:
            lines.append(f"WARNING: {server['title']} does not answer what scikit-learn predicts: {server['answer']}")
        if server.get("available"):
            probe = server["stall_probe"]
            lines.append(f"stall check {name}: {probe['path']} p50 {format_latency(probe['p50_ms'])} at c1 -> "
                         f"{'STALL suspected' if probe['stall_suspected'] else 'no delayed-ACK stall'}")
    lines.append("how each server was run:")
    lines += [f"  {server['title']}: {note}" for server in results.values() for note in server.get("serving_notes", [])]
    lines.append("targets:")
    lines += [f"  {format_target(result)}" for result in targets]
    return "\n".join(lines)
