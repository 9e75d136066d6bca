"""The repository is complete on its own: no file names data outside it without an in-repo fallback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_data_paths", REPO_ROOT / "scripts" / "check_data_paths.py")
check_data_paths = sys.modules.setdefault("check_data_paths", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(check_data_paths)


def test_this_repository_names_no_outside_data_without_a_fallback() -> None:
    assert check_data_paths.check(REPO_ROOT, check_data_paths.project_files(REPO_ROOT)) == []


@pytest.mark.parametrize(
    "line",
    [
        # Built from parts, so that this file does not itself name a path outside the repository.
        f"DATA_DIR = Path({'/'.join(['', 'work', 'shared', 'data', 'carbon'])!r})",
        f"it needs `{'/'.join(['..', 'shared', 'data', 'carbon'])}` beside the checkout",
        'SHARED = REPO_ROOT.parent / "shared" / "data"',
        f"TRACE={'/'.join(['', 'home', 'someone', 'traces', 'national.csv'])}",
    ],
)
def test_outside_data_without_a_fallback_is_reported(tmp_path: Path, line: str) -> None:
    (tmp_path / "module.py").write_text(f"x = 1\n{line}\n", encoding="utf-8")
    [offence] = check_data_paths.check(tmp_path, ["module.py"])
    assert (offence.path, offence.line) == ("module.py", 2)
    assert check_data_paths.main(["check", str(tmp_path)]) == 1


def test_a_marked_fallback_must_exist_in_the_repository(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    outside = "/".join(["..", "shared", "x"])
    (tmp_path / "ok.py").write_text(f'# repo-fallback: data\nSHARED = Path("{outside}")\n', encoding="utf-8")
    (tmp_path / "bad.py").write_text(f'SHARED = Path("{outside}")  # repo-fallback: missing\n', encoding="utf-8")
    offences = check_data_paths.check(tmp_path, ["ok.py", "bad.py"])
    assert [(o.path, "does not exist" in o.reason) for o in offences] == [("bad.py", True)]


def test_urls_and_repository_relative_paths_are_not_machine_paths(tmp_path: Path) -> None:
    url_path = "/".join(["", "work", "home", "x"])  # a URL whose path looks like a machine's
    (tmp_path / "m.py").write_text(
        f'URL = "https://api.example{url_path}"\nDATA = BASE_DIR / "zones" / "data"\nSTATIC = "/static/x"\n',
        encoding="utf-8",
    )
    assert check_data_paths.check(tmp_path, ["m.py"]) == []
