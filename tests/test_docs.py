"""The documentation points at things that exist: every relative link (and its #anchor) and every repository path
named in README.md, bench/README.md and docs/*.md. Run alone with ``make docs-check``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](image)
# A path inside the repository, named in prose, inline code or a command: it starts at a top-level folder or is
# one of the top-level files. Not preceded by a path character, so ../shared/data/... and ~/.cache/w2v/... are skipped.
REPO_PATH = re.compile(
    r"(?<![\w./~-])((?:w2v|tests|bench|configs|docs|\.ci)/[\w./*-]*[\w*/]"
    r"|(?:train|evaluate|similar|recommend)\.py\b|Makefile\b|pyproject\.toml\b)"
)
FENCE = re.compile(r"^(```|~~~)")


def _written_by_a_bench_script(path: str) -> bool:
    """A results file a bench script writes by default (``bench/results/<name>.json``), named before any run made it."""
    if not path.startswith("bench/results/") or "/" in path[len("bench/results/") :]:
        return False
    name = Path(path).name
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bench").glob("*.py"))
    return f'add_json_argument(parser, "{Path(name).stem}")' in sources or f'"{name}"' in sources


def _pages() -> list[Path]:
    assert (ROOT / "docs").is_dir() and len(PAGES) >= 3
    return PAGES


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (where a heading can be)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (``-`` and ``_`` kept), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a markdown page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slugs_follow_github():
    assert slug("Continuing on new text (`init=`)") == "continuing-on-new-text-init"
    assert slug("word2vec.c's demo settings") == "word2veccs-demo-settings"
    assert slug("Every model, 1 and 2 cores, three systems") == "every-model-1-and-2-cores-three-systems"
    assert slug("The `numba` engine against gensim") == "the-numba-engine-against-gensim"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_exists(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_exists(page):
    missing = []
    for raw in REPO_PATH.findall(page.read_text(encoding="utf-8")):
        path = raw.rstrip(".")
        if "<" in path or "{" in path:  # a placeholder: bench/results/<name>.json
            continue
        if "*" in path:
            if not list(ROOT.glob(path)):
                missing.append(f"{path} (matches nothing)")
        elif not (ROOT / path).exists() and not _written_by_a_bench_script(path):
            missing.append(path)
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {sorted(set(missing))}"


def test_the_path_pattern_finds_paths_in_prose_code_and_commands():
    text = "see `w2v/data/vocab.py`, run python bench/vs_gensim.py --json bench/results/x.json; ../shared/data/wiki8 and ~/.cache/w2v/text8"
    assert REPO_PATH.findall(text) == ["w2v/data/vocab.py", "bench/vs_gensim.py", "bench/results/x.json"]
    assert REPO_PATH.findall("python train.py and tests/conftest.py:load_script") == ["train.py", "tests/conftest.py"]
    assert _written_by_a_bench_script("bench/results/distributed_project.json")  # --project's default
    assert _written_by_a_bench_script("bench/results/gpu.json")  # add_json_argument(parser, "gpu")
    assert not _written_by_a_bench_script("bench/results/nothing_writes_this.json")
    assert not _written_by_a_bench_script("bench/gpu.json")


def test_the_readme_keeps_the_verified_quickstart_and_stays_short():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # These two commands are run on a fresh machine (.ci/run runs the second): keep them exactly.
    assert "\npip install torch==2.13.0 && pip install -e . && python train.py\n" in text
    assert '\npip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest -q\n' in text
    assert len(text.splitlines()) <= 330, "the README is the front door: depth goes to docs/"
