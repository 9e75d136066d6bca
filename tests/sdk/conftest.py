"""Clients generated from the committed ``openapi.yaml``, as integrators generate them."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI = REPO_ROOT / "openapi.yaml"


@pytest.fixture(scope="session")
def python_sdk(tmp_path_factory):
    """The package openapi-python-client (pinned in requirements-dev.txt) generates, imported."""
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        generator = shutil.which("openapi-python-client")
    assert generator, "openapi-python-client is a pinned dev dependency: run make install"
    out = tmp_path_factory.mktemp("sdk")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is only imported
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(OPENAPI),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(out / "pylon_sdk"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("pylon_sdk")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "pylon_sdk" or m.startswith("pylon_sdk.")]:
            del sys.modules[name]
