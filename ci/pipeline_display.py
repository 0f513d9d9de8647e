"""What a person sees while `ci pipeline` runs: a stage board (stage, status, elapsed) and the final table."""

import shutil
import sys

STATUS_MARKS = {"passed": "✔", "failed": "✘", "running": "▶", "waiting": "·", "skipped": "–", "not run": "·",
                "interrupted": "■"}
GREEN, RED, YELLOW, DIM, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m"
COLOURS = {"passed": GREEN, "failed": RED, "running": YELLOW, "interrupted": RED}


def board_lines(rows: list[dict], running_seconds: float | None, last_line: str, width: int = 100) -> list[str]:
    """The board for a terminal: one line per stage; the running stage shows its time so far and latest output."""
    lines = []
    for row in rows:
        status = row["status"]
        seconds = running_seconds if status == "running" else row.get("seconds")
        elapsed = f"{seconds:7.1f}s" if seconds is not None else " " * 8
        colour = COLOURS.get(status, DIM)
        line = f"{colour}{STATUS_MARKS.get(status, '?')} {row['stage']:<12} {status:<11}{elapsed}{RESET}"
        if status == "running" and last_line:
            room = max(width - 40, 10)
            line += f"  {DIM}{last_line[:room]}{RESET}"
        lines.append(line)
    return lines


def summary_table(rows: list[dict]) -> list[str]:
    """The table printed at the end (plain text: it also lands in Jenkins's console and in logs)."""
    lines = [f"{'stage':<13}{'result':<12}{'seconds':>8}  log", "-" * 60]
    for row in rows:
        seconds = f"{row['seconds']:8.1f}" if row.get("seconds") is not None else " " * 8
        log = row.get("log") or ""
        lines.append(f"{row['stage']:<13}{row['status']:<12}{seconds}  {log}")
    total = sum(row["seconds"] for row in rows if row.get("seconds") is not None)
    lines.append(f"{'total':<25}{total:8.1f}")
    return lines


class StageBoard:
    """On a terminal: a board redrawn in place. Elsewhere (Jenkins, CI, a pipe): plain lines, prefixed by stage."""

    def __init__(self, rows: list[dict], stream=sys.stderr):
        self.rows = rows
        self.stream = stream
        self.live = stream.isatty()
        self.last_line = ""
        self.drawn = 0
        self.current: dict | None = None

    def start(self, row: dict, commands: str) -> None:
        self.current, self.last_line = row, ""
        if self.live:
            self.tick(0.0)
        else:
            self._write(f"━━ {row['stage']}: {commands}\n")

    def line(self, text: str) -> None:
        self.last_line = text.strip() or self.last_line
        if not self.live:
            self._write(f"[{self.current['stage']}] {text}\n")

    def tick(self, seconds: float) -> None:
        if not self.live:
            return
        width = shutil.get_terminal_size().columns
        lines = board_lines(self.rows, seconds, self.last_line, width)
        up = f"\033[{self.drawn}F" if self.drawn else ""
        self._write(up + "".join(f"\033[2K{line}\n" for line in lines))
        self.drawn = len(lines)

    def hand_over_terminal(self) -> None:
        """Someone else writes to the terminal now: draw the board anew below what they write."""
        self.drawn = 0

    def end(self, row: dict) -> None:
        if self.live:
            self.tick(row["seconds"] or 0.0)
        else:
            self._write(f"━━ {row['stage']}: {row['status']} in {row['seconds']:.1f}s\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
