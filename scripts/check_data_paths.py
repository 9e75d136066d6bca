"""Fail when a project file names data outside the repository without an in-repo fallback.

The repository must be complete on its own: every test and benchmark runs from what it holds. A file
may still name the shared folder beside a checkout (read-only extra material) or an absolute path of
one machine only if the same or the previous line carries a marker

    repo-fallback: <path inside the repository>

naming an existing file or directory of the repository that is used when the outside data is absent.
Run: ``python scripts/check_data_paths.py [ROOT]`` (``make check-data-paths``); exit status 1 lists
each offending line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

OUTSIDE = re.compile(
    r"\.\./shared\b"  # the shared folder beside a checkout
    r"|\.parent\s*/\s*[\"']shared[\"']"  # the same, spelt with pathlib
    r"|(?<![\w.:/-])/(?:work|home|Users|root|mnt|media|srv|tmp)/[\w.-]"  # a path of one machine
)
MARKER = re.compile(r"repo-fallback:\s*(?P<path>[\w./-]+)")
# Files that may name such paths for another reason: ignore rules, and this checker's own examples.
SKIPPED_NAMES = {".gitignore", ".dockerignore"}
SKIPPED_PATHS = {"scripts/check_data_paths.py", "tests/test_data_paths.py"}


@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}: {self.text.strip()[:160]}"


def project_files(root: Path) -> list[str]:
    """Files git tracks or would track (committed or not, minus ignored ones); every file without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607 (git on PATH)
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "node_modules", "var", "staticfiles", "__pycache__"}
        relative = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
        listed = [str(p) for p in relative if not skip & set(p.parts)]
    return sorted(name for name in listed if (root / name).is_file())


def _lines(path: Path) -> Iterator[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return  # binary data: not a file that names paths
    yield from text.splitlines()


def check(root: Path, names: Iterable[str]) -> list[Offence]:
    offences: list[Offence] = []
    for name in names:
        if Path(name).name in SKIPPED_NAMES or name in SKIPPED_PATHS:
            continue
        previous = ""
        for number, line in enumerate(_lines(root / name), start=1):
            if OUTSIDE.search(line):
                marker = MARKER.search(line) or MARKER.search(previous)
                if marker is None:
                    offences.append(Offence(name, number, line, "names data outside the repository, no repo-fallback"))
                elif not (root / marker["path"]).exists():
                    offences.append(Offence(name, number, line, f"repo-fallback {marker['path']} does not exist"))
            previous = line
    return offences


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".").resolve()
    offences = check(root, project_files(root))
    for offence in offences:
        print(offence)
    if offences:
        print(f"{len(offences)} line(s) name data outside the repository; ship it in the repo or mark the fallback.")
        return 1
    print("No file names data outside the repository without an in-repo fallback.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
