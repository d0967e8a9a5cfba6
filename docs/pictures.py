"""The README's two pictures, from the demo: its `quotawatch status` and its report.

    .venv/bin/python docs/pictures.py     # writes docs/status.png and docs/report.png

Runs the demo with colours forced, draws the status table as a terminal shows it (an HTML
page of the coloured text, photographed by headless chromium), photographs the top of the
demo's report, and keeps each PNG small (a palette of 128 colours).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "chromium"
ANSI = re.compile(r"\033\[([0-9;]*)m")
COLOURS = {"1;31": "color:#ff6b6b;font-weight:bold", "31": "color:#ff6b6b", "33": "color:#f5c542",
           "32": "color:#7bd88f", "2": "color:#8a8a8a"}  # fmt: skip


def main() -> int:
    env = {**os.environ, "FORCE_COLOR": "1"}
    demo = subprocess.run(
        [sys.executable, "-m", "quotawatch_local", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    status = demo.stdout.split("`quotawatch status` after run 6:\n", 1)[1].split("\n[7]", 1)[0].strip("\n")
    report = Path(demo.stdout.split("(`quotawatch report`): ", 1)[1].splitlines()[0])
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "status.html"
        page.write_text(_terminal_page("$ quotawatch status\n" + status))
        lines = ANSI.sub("", status).splitlines()
        width = max(len(line) for line in lines) * 8 + 40  # 13 px DejaVu Sans Mono: 7.8 px a character
        _photograph(page, REPO / "docs/status.png", width=width, height=(len(lines) + 1) * 19 + 28)
        _photograph(report, REPO / "docs/report.png", width=900, height=760)
    for name in ("status.png", "report.png"):
        print(f"docs/{name}: {(REPO / 'docs' / name).stat().st_size // 1024} KB")
    return 0


def _terminal_page(text: str) -> str:
    parts, style, position = [], "", 0
    for match in ANSI.finditer(text):
        parts.append(_span(text[position : match.start()], style))
        style, position = COLOURS.get(match.group(1), ""), match.end()
    parts.append(_span(text[position:], style))
    return (
        "<!doctype html><meta charset='utf-8'><body style='margin:0;background:#1e1e1e'>"
        "<pre style=\"margin:0;padding:12px 14px;color:#e6e6e6;font:13px/19px 'DejaVu Sans Mono',monospace\">"
        + "".join(parts)
        + "</pre>"
    )


def _span(text: str, style: str) -> str:
    return f"<span style='{style}'>{html.escape(text)}</span>" if style else html.escape(text)


def _photograph(page: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
