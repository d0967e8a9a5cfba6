"""The docs site: `mkdocs build --strict` as `make docs` runs it, then the built pages.

mkdocs.yml turns every broken link, missing page and missing anchor into a warning, and
--strict fails the build on any warning: a link to a page or heading that moved breaks
this test. The site must load nothing from elsewhere when viewed (no web fonts, no CDN):
the browser lists every resource the home page loaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.browser import page_facts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    return out


def test_every_kind_of_broken_link_fails_the_build() -> None:
    validation = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["validation"]
    assert validation["links"] == dict.fromkeys(
        ["not_found", "absolute_links", "unrecognized_links", "anchors"], "warn"
    )
    assert validation["nav"] == dict.fromkeys(["omitted_files", "not_found", "absolute_links"], "warn")


def test_every_page_is_built_and_no_page_loads_a_script_or_style_from_elsewhere(site: Path) -> None:
    pages = {page.stem for page in (REPO / "docs").glob("*.md")}
    assert pages <= {page.stem for page in site.glob("*.html")}
    external = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.IGNORECASE)
    offenders = [page.name for page in site.glob("*.html") if external.search(page.read_text(encoding="utf-8"))]
    assert offenders == []


_HOME_SCRIPT = """
(() => ({
  title: document.title,
  heading: document.querySelector("article h1")?.textContent.trim(),
  picture: [...document.querySelectorAll("article img")].map(i => i.complete && i.naturalWidth > 0),
  pages: [...document.querySelectorAll("nav a.md-nav__link")].map(a => a.getAttribute("href")),
  styled: getComputedStyle(document.querySelector(".md-header")).position,
  loaded: [...document.querySelectorAll("script[src], link[href], img[src], iframe[src]")]
    .map(e => new URL(e.src || e.href).protocol),
}))()
"""


def test_the_home_page_opens_in_a_browser_with_its_picture_styles_and_map(site: Path) -> None:
    facts = page_facts(site / "index.html", _HOME_SCRIPT)
    assert facts["heading"].startswith("QuotaWatch")
    assert facts["picture"] == [True]  # docs/status.png, through the README's rewritten link
    assert {"deploy.html", "monitors.html", "providers.html", "benchmarks.html"} <= set(facts["pages"])
    assert facts["styled"] in {"sticky", "fixed"}  # Material's own stylesheet applied
    assert set(facts["loaded"]) == {"file:"}, "the page loads something from the network"
