"""Paths to recorded carbon-intensity data for provider tests (see tests/fixtures/carbon/README.md)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "carbon"
# shared/ sits beside the repository checkout, locally and in CI.
SHARED_CARBON_DIR = REPO_ROOT.parent / "shared" / "data" / "carbon"


@cache
def _load(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def load_json(name: str) -> Any:
    """A fresh copy of a recorded response body, safe for a test to edit."""
    return copy.deepcopy(_load(name))
