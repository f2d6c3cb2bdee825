"""No link in README.md or docs/*.md leaves the repository, and every one resolves."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target), <scheme:...> autolinks, src=/href= in inline HTML
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]+)>", re.I)
HTML_LINK = re.compile(r"(?:href|src)=\"([^\"]+)\"", re.I)
SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def links(page: pathlib.Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.S)  # code is not a link
    text = re.sub(r"`[^`\n]*`", "", text)
    return [*MARKDOWN_LINK.findall(text), *AUTOLINK.findall(text), *HTML_LINK.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_stays_in_the_repository_and_resolves(page: pathlib.Path) -> None:
    for target in links(page):
        assert not SCHEME.match(target), f"{page.name}: {target} leaves the repository"
        path = target.split("#", 1)[0]
        if not path:
            continue  # an anchor on the same page
        resolved = (page.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} is outside the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


def test_readme_and_guide_link_to_the_contract() -> None:
    assert "](docs/contract.md)" in (ROOT / "README.md").read_text("utf-8")
    assert "](contract.md)" in (ROOT / "docs" / "integrators.md").read_text("utf-8")


def test_the_scan_catches_a_link_that_leaves(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "x.md"
    page.write_text("see [the contract](../shared/CONTRACT.md) and <https://cdn.example/x.js>\n")
    found = links(page)
    assert found == ["../shared/CONTRACT.md", "https://cdn.example/x.js"]
    assert SCHEME.match(found[1])
    assert not (page.parent / found[0]).resolve().is_relative_to(tmp_path)
