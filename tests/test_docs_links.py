"""Links between README.md, docs/ and benchmarks/RESULTS.md point at files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "RESULTS.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_relative_links_and_anchors_resolve():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(REPO)}: {target} (no heading with that id)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_source_files_named_in_the_docs_exist():
    """Code moves; a page naming `service/old_module.py` should fail here, not mislead a reader."""
    named = {
        path
        for page in PAGES
        for path in re.findall(r"`([\w.-]+(?:/[\w.-]+)+\.(?:py|yml|toml|html|sh))`", page.read_text(encoding="utf-8"))
    }
    assert named, "the pattern found no file names at all"
    assert sorted(p for p in named if not (REPO / p).exists()) == []


def test_readme_stays_a_quickstart():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250, "README.md is quickstart, commands and links; put the rest in docs/"
    for command in ("make run", "make test", "make docs"):
        assert command in readme
