"""A real headless browser for tests: Debian's chromium, driven over the DevTools protocol.

The protocol goes through a pipe (--remote-debugging-pipe: commands on the browser's fd 3,
answers on its fd 4, each a JSON text ending in NUL), so no port is opened and nothing
but the standard library is needed. `page_facts` opens a file and returns what a script
evaluated in it finds, after the page (and its images) loaded.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from quotawatch_view.charts import FORECAST, LIMIT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_S = 30


class Browser:
    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="qw-chromium-")
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()
        # Above 4, so that putting one end on fd 3 or 4 never overwrites the other.
        to_browser, from_browser = (_above_four(fd) for fd in (to_browser, from_browser))
        flags = [
            "--headless",
            "--no-sandbox",  # root in CI; the page is our own file
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1000,1400",
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-pipe",
        ]
        # The browser wants the pipe on fds 3 and 4 exactly: bash puts it there (dash takes no fd past 9).
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        self._process = subprocess.Popen(
            ["bash", "-c", script, CHROMIUM, *flags],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One command; its result (events that arrive meanwhile are dropped)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))

    def wait_for(self, event: str) -> dict[str, Any]:
        while True:
            answer = self._receive()
            if answer.get("method") == event:
                return answer

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], TIMEOUT_S)
            chunk = os.read(self._answers, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("chromium did not answer on the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def close(self) -> None:
        try:
            os.write(self._commands, json.dumps({"id": 0, "method": "Browser.close", "params": {}}).encode() + b"\0")
            self._process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._answers)
            self._profile.cleanup()


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def page_facts(path: Path, script: str) -> Any:
    """Open `path` in headless chromium, wait for it to load, and return `script`'s value."""
    browser = Browser()
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.send("Page.enable", session)
        browser.send("Page.navigate", session, url=path.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        result = browser.send("Runtime.evaluate", session, expression=script, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the script failed: {result['exceptionDetails']}")
        return result["result"].get("value")
    finally:
        browser.close()


# Each chart as a person sees it: loaded, on screen, its visible legend, and how many of its
# pixels have the limit's and the forecast's colours.
_CHARTS_SCRIPT = """
(() => {
  const shown = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const rgb = hex => [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
  const pixels = (img, hex) => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d'); context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data, [r, g, b] = rgb(hex);
    let count = 0;
    for (let i = 0; i < data.length; i += 4)
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40) count++;
    return count; };
  return [...document.querySelectorAll('figure.chart')].map(figure => {
    const img = figure.querySelector('img');
    return { monitor: figure.dataset.monitor, meter: figure.dataset.meter, alt: img.alt,
      width: img.complete ? img.naturalWidth : 0, height: img.complete ? img.naturalHeight : 0, shown: shown(img),
      legend: [...figure.querySelectorAll('ul.legend li')].filter(shown).map(li => [li.className, li.innerText]),
      limit_pixels: pixels(img, 'LIMIT'), forecast_pixels: pixels(img, 'FORECAST') }; });
})()
"""


def report_charts(report: Path) -> list[dict[str, Any]]:
    """Each chart of a QuotaWatch report as the browser shows it."""
    script = _CHARTS_SCRIPT.replace("'LIMIT'", f"'{LIMIT}'").replace("'FORECAST'", f"'{FORECAST}'")
    return list(page_facts(report, script))
