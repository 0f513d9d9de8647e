"""HTML pieces for the self-contained report pages: escaped cells, tables, facts, status pills, embedded images."""

import base64
import html
from datetime import datetime, timezone

PILL_CLASS = {"passed": "ok", "success": "ok", "failed": "bad", "rolled back": "bad", "rollback failed": "bad",
              "interrupted": "warn", "skipped": "warn", "not deployed": "warn"}


def text(value) -> str:
    return "—" if value is None or value == "" else html.escape(str(value))


def code(value) -> str:
    return "—" if value is None or value == "" else f"<code>{html.escape(str(value))}</code>"


def number(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def pill(status: str) -> str:
    css = PILL_CLASS.get(status, "idle")
    return f'<span class="pill {css}">{text(status)}</span>'


def image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def figure(png: bytes, caption: str) -> str:
    return f"<figure>{image(png, caption)}<figcaption>{text(caption)}</figcaption></figure>"


def table(table_id: str, headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Cells are HTML already escaped by the caller; `numeric` column indexes are right-aligned."""
    def cell(tag: str, index: int, content: str) -> str:
        return f'<{tag} class="num">{content}</{tag}>' if index in numeric else f"<{tag}>{content}</{tag}>"

    head = "".join(cell("th", index, html.escape(name)) for index, name in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", index, value) for index, value in enumerate(row)) + "</tr>"
                   for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def facts(pairs: list[tuple[str, str]], css: str = "facts") -> str:
    items = "".join(f"<div><dt>{html.escape(name)}</dt><dd>{value}</dd></div>" for name, value in pairs)
    return f'<dl class="{css}">{items}</dl>'


def not_run(what: str) -> str:
    return f'<p class="not-run">{html.escape(what)}: not run in this pipeline.</p>'


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{body}</section>'


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{value:.1f} s"


def when(timestamp: str | None) -> str:
    """An ISO 8601 time as a person reads it: in UTC when its zone is known."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return text(timestamp)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


# After load, record on <body> how many images the browser decoded: a headless browser's dumped DOM then proves
# that every embedded chart renders.
IMAGE_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-broken", String(images.length - loaded));
});
"""

STYLE = """
:root { --ink: #202124; --muted: #5f6368; --line: #e3e6ea; --page: #f4f6f8; --ok: #137333; --ok-bg: #e6f4ea;
  --bad: #b3261e; --bad-bg: #fce8e6; --warn: #8a5300; --warn-bg: #fef3d6; --idle-bg: #eef0f2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: var(--page);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 32px; }
header.top { background: #fff; border-bottom: 1px solid var(--line); padding: 28px 0 22px; }
.title-row { display: flex; justify-content: space-between; align-items: center; gap: 16px; }
.eyebrow { margin: 0; font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: var(--muted); }
h1 { margin: 2px 0 0; font-size: 26px; font-weight: 650; }
h2 { margin: 0 0 16px; font-size: 18px; font-weight: 650; }
h3 { margin: 20px 0 8px; font-size: 13px; font-weight: 600; color: var(--muted); }
.result { padding: 6px 18px; border-radius: 999px; font-size: 14px; font-weight: 700; letter-spacing: .05em;
  text-transform: uppercase; }
main.wrap { padding-top: 24px; padding-bottom: 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 22px 26px;
  margin-bottom: 20px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px 28px;
  margin: 0 0 16px; }
.compact { grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); }
.rows { grid-template-columns: 1fr; gap: 0; }
.rows > div { display: grid; grid-template-columns: 180px minmax(0, 1fr); padding: 9px 0;
  border-bottom: 1px solid var(--line); }
.rows dt { font-size: 13px; }
.rows dd { margin: 0; }
.summary { display: flex; flex-wrap: wrap; gap: 14px 48px; margin: 22px 0 0; }
dt { font-size: 12px; color: var(--muted); }
dd { margin: 2px 0 0; font-weight: 500; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; margin-bottom: 8px; }
th { padding: 8px 12px; border-bottom: 2px solid var(--line); text-align: left; font-size: 12px; font-weight: 600;
  color: var(--muted); }
td { padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; }
code { font: 12.5px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.idle { color: var(--muted); background: var(--idle-bg); }
.better { color: var(--ok); font-weight: 600; }
.worse { color: var(--bad); font-weight: 600; }
.verdict { margin: 0 0 14px; }
.failures { margin: -6px 0 14px; color: var(--bad); }
.note { color: var(--muted); font-size: 13px; }
.not-run:not(:last-child) { margin-bottom: 14px; }
.not-run { margin: 0; padding: 12px 16px; border-radius: 8px; background: var(--idle-bg); color: var(--muted); }
.callout { margin: 0 0 18px; padding: 12px 16px; border-left: 4px solid var(--bad); border-radius: 6px;
  background: var(--bad-bg); }
.callout ul { margin: 6px 0 0; padding-left: 20px; }
.split { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 28px; align-items: start; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 20px;
  margin-top: 18px; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; }
td code { white-space: nowrap; }
figcaption { margin-top: 4px; font-size: 12px; color: var(--muted); }
footer.wrap { padding-bottom: 32px; font-size: 12px; color: var(--muted); }
"""
