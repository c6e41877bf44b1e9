"""The user-facing pages read as documentation, not as a work log: no commit hashes, no issue
numbers, no sessions; config/README.md's key table stays scannable; every relative link resolves.
The history belongs in CHANGELOG.md, which obeys the same rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").glob("*.md")) + [
    REPO / "README.md",
    REPO / "CHANGELOG.md",
    REPO / "config" / "README.md",
]
PAGE_IDS = [str(p.relative_to(REPO)) for p in PAGES]

#: A hex word of 7-40 characters with a digit and a letter: how git abbreviates a commit.
HASH = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
#: "issue 16", "issues 16 and 22", "(issue #22)", "gmm_issue16_...": a tracker's number.
ISSUE = re.compile(r"issues?[\s_#-]*\d", re.IGNORECASE)
SESSION = re.compile(r"\bsessions?\b", re.IGNORECASE)
#: What a page must not say, and what to write instead.
WORK_LOG = {
    "commit hash": (HASH, "say what changed; the history belongs in CHANGELOG.md"),
    "issue number": (ISSUE, "say what the feature is"),
    "session": (SESSION, "work-log language: say what is, or put the history in CHANGELOG.md"),
}
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")
TABLE_ROW_LIMIT = 200


def prose(path: Path) -> list[tuple[int, str]]:
    """The page's lines with their numbers (from 1), fenced code blocks left out."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def offences(path: Path, pattern: re.Pattern[str]) -> list[str]:
    return [f"{path.name}:{n}: {m.group(0)!r}" for n, line in prose(path) for m in pattern.finditer(line)]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of the page's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated heading numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose(path):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def key_table(path: Path) -> list[tuple[int, str]]:
    """The rows of the table headed ``| key | meaning |`` (its header and rule line excluded)."""
    lines = prose(path)
    start = next((i for i, (_, line) in enumerate(lines) if re.match(r"\|\s*key\s*\|", line)), None)
    assert start is not None, f"{path}: no table headed '| key | ...'"
    rows = []
    for number, line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append((number, line))
    return rows


def test_the_pages_exist():
    missing = [p for p in PAGES if not p.is_file()]
    assert not missing, f"missing pages: {missing}"


@pytest.mark.parametrize("rule", WORK_LOG)
@pytest.mark.parametrize("path", PAGES, ids=PAGE_IDS)
def test_no_work_log_language(path, rule):
    pattern, advice = WORK_LOG[rule]
    found = offences(path, pattern)
    assert not found, f"{rule} ({advice}):\n" + "\n".join(found)


@pytest.mark.parametrize("path", PAGES, ids=PAGE_IDS)
def test_relative_links_resolve(path):
    broken = []
    for number, line in prose(path):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.name}:{number}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.name}:{number}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_config_key_table_is_scannable():
    """One short line per key; the longer explanations live in the sections below the table."""
    path = REPO / "config" / "README.md"
    rows = key_table(path)
    assert len(rows) >= 40, f"{path}: the key table has only {len(rows)} rows"
    long = [f"line {n}: {len(row)} characters: {row[:80]}..." for n, row in rows if len(row) >= TABLE_ROW_LIMIT]
    assert not long, f"key table rows of {TABLE_ROW_LIMIT} characters or more:\n" + "\n".join(long)


def test_the_checks_catch_what_they_look_for():
    """The patterns find a hash, an issue number and a session; they pass plain prose."""
    assert HASH.findall("measured with the optimiser of 0d3b3e0, at 10000000000 events") == ["0d3b3e0"]
    assert len(ISSUE.findall("(issue 16); issues 22; docs/figures/gmm_issue16_k20.png")) == 3
    assert SESSION.search("as the last session saw")
    assert not HASH.search("float32 images, 2026-12-06, deadbeef, 1e8")
    assert not ISSUE.search("an issue of MC statistics") and not SESSION.search("sessile")
