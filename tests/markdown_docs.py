"""
What the user-facing Markdown (README.md, MODEL_ZOO.md, docs/*.md) refers to: its relative links,
the repository paths in its commands and inline code, and its ``python`` command lines.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "projects" / "ATSS" / "atss"


def markdown_files() -> List[Path]:
    """README.md, MODEL_ZOO.md and every page of docs/."""
    return [ROOT / "README.md", ROOT / "MODEL_ZOO.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Reference:
    """Something a page refers to, with where: ``page:line``."""

    page: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {self.text}"


_FENCE = re.compile(r"^\s*(```|~~~)\s*(\S*)")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}


def split_page(page: Path) -> Tuple[List[Tuple[int, str]], List[Tuple[int, str, str]]]:
    """
    The page's prose lines ``(line, text)`` and its fenced code blocks ``(first line, language,
    text)``.
    """
    prose, blocks = [], []
    block = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line)
        if block is None and fence:
            block = (number + 1, fence.group(2).lower(), [])
        elif block is not None and fence:
            blocks.append((block[0], block[1], "\n".join(block[2])))
            block = None
        elif block is not None:
            block[2].append(line)
        else:
            prose.append((number, line))
    return prose, blocks


def links(page: Path) -> Iterator[Reference]:
    """The relative link targets of the page's prose (external and in-page links excluded)."""
    for number, line in split_page(page)[0]:
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#"):
                yield Reference(page, number, target)


def github_anchors(page: Path) -> Set[str]:
    """The anchors GitHub gives the page's headings (lower case, punctuation dropped, '-')."""
    anchors, seen = set(), {}
    for _, line in split_page(page)[0]:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def shell_commands(page: Path) -> Iterator[Tuple[Reference, List[str]]]:
    """
    Every command of the page's shell blocks and of its inline code starting with ``python``,
    split into words, continuation lines joined, comments, environment assignments and ``time``
    dropped, one entry per command of a ``&&`` / ``;`` / ``|`` chain.
    """
    prose, blocks = split_page(page)
    sources = [
        (first, text) for first, language, text in blocks if language in _SHELL_LANGUAGES
    ] + [
        (number, code)
        for number, line in prose
        for code in _INLINE_CODE.findall(line)
        if code.startswith("python ")
    ]
    for first, text in sources:
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            start, command = i, lines[i]
            while command.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command.rstrip()[:-1] + " " + lines[i]
            i += 1
            try:
                words = shlex.split(command, comments=True)
            except ValueError:
                words = command.split()
            chain: List[str] = []
            for word in words + [";"]:
                if word in ("&&", "||", ";", "|"):
                    while chain and (re.match(r"^\w+=", chain[0]) or chain[0] in ("time", "nice")):
                        chain.pop(0)
                    if chain:
                        yield Reference(page, first + start, " ".join(chain)), chain
                    chain = []
                else:
                    chain.append(word)


def python_commands(page: Path) -> Iterator[Tuple[Reference, str, List[str]]]:
    """``(where, script, arguments)`` of every ``python SCRIPT ...`` command of the page."""
    for where, words in shell_commands(page):
        if words[0] in ("python", "python3") and len(words) > 1 and not words[1].startswith("-"):
            yield where, words[1], words[2:]


def _repository_roots() -> Set[str]:
    """The repository's top-level files and folders, less what .gitignore keeps out of it."""
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    return {p.name for p in ROOT.iterdir() if p.name not in ignored and p.name != ".git"}


# Paths of detectron2's repository that the docs name as the model of this one's layout.
DETECTRON2_PATHS = {"projects/PointRend"}


def repository_paths(page: Path) -> Iterator[Reference]:
    """
    The words of the page's commands and inline code that name a path of the repository: those
    starting with one of its top-level files or folders (or ``atss/``, the package), globs
    included. Values of ``key=value`` overrides count as words.
    """
    roots = _repository_roots() | {"atss"}
    prose, _ = split_page(page)
    words: List[Tuple[Reference, str]] = [
        (Reference(page, number, code), word)
        for number, line in prose
        for code in _INLINE_CODE.findall(line)
        for word in code.split()
    ] + [(where, word) for where, command in shell_commands(page) for word in command]
    for where, word in words:
        for candidate in re.split(r"[=,]", word):
            candidate = candidate.strip("\"'()[]{}:;,.")
            first = candidate.split("/")[0]
            if candidate in DETECTRON2_PATHS:
                continue
            if first in roots and ("/" in candidate or "." in candidate):
                yield Reference(where.page, where.line, candidate)


def path_exists(path: str) -> bool:
    """
    Whether the repository path exists (``atss/...`` in the package); globs and
    ``<placeholders>`` match any name.
    """
    base = PACKAGE.parent if path.split("/")[0] == "atss" else ROOT
    path = re.sub(r"<[^>]+>", "*", path)
    if any(c in path for c in "*?["):
        return any(base.glob(path.rstrip("/")))
    return (base / path).exists()


def link_resolves(reference: Reference) -> bool:
    """Whether a relative link's file exists and, for a Markdown file, has the linked heading."""
    target, _, anchor = reference.text.partition("#")
    path = (reference.page.parent / target).resolve() if target else reference.page
    if not path.exists():
        return False
    if anchor and path.suffix == ".md":
        return anchor in github_anchors(path)
    return True


def by_script(pages: List[Path]) -> Dict[str, List[Tuple[Reference, List[str]]]]:
    """The pages' ``python`` command lines grouped by script."""
    groups: Dict[str, List[Tuple[Reference, List[str]]]] = {}
    for page in pages:
        for where, script, arguments in python_commands(page):
            groups.setdefault(script, []).append((where, arguments))
    return groups
