"""A fresh clone's first commands print no warnings of ours."""

from __future__ import annotations

import logging
import runpy
import warnings
from pathlib import Path

import kombu
from django.test import override_settings

from pylon.middleware import StaticFilesMiddleware

SETTINGS = Path(__file__).resolve().parents[1] / "pylon" / "settings.py"


def fresh_settings(monkeypatch, tmp_path: Path) -> dict:
    """The settings module as a clone with no environment and no var/ folder would evaluate it."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYLON_VAR_DIR", str(tmp_path / "var"))
    return runpy.run_path(str(SETTINGS))


def test_the_default_sqlite_folder_exists_before_any_command_opens_it(monkeypatch, tmp_path):
    settings = fresh_settings(monkeypatch, tmp_path)
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "var" / "pylon.sqlite3")
    assert (tmp_path / "var").is_dir()


def test_a_database_url_creates_no_var_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    monkeypatch.setenv("PYLON_VAR_DIR", str(tmp_path / "var"))
    runpy.run_path(str(SETTINGS))
    assert not (tmp_path / "var").exists()


def test_the_brokerless_default_names_a_host_so_kombu_does_not_warn(monkeypatch, tmp_path, caplog):
    settings = fresh_settings(monkeypatch, tmp_path)
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        kombu.Connection(settings["CELERY_BROKER_URL"]).as_uri()
    assert "No hostname" not in caplog.text


def test_serving_before_collectstatic_does_not_warn(tmp_path):
    settings = override_settings(STATIC_ROOT=str(tmp_path / "staticfiles"), WHITENOISE_USE_FINDERS=True)
    with settings, warnings.catch_warnings():
        warnings.simplefilter("error")
        StaticFilesMiddleware(lambda request: None)


def test_a_missing_static_root_is_still_reported_when_only_collected_files_are_served(tmp_path):
    settings = override_settings(STATIC_ROOT=str(tmp_path / "staticfiles"), WHITENOISE_USE_FINDERS=False, DEBUG=False)
    with settings, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StaticFilesMiddleware(lambda request: None)
    assert any("No directory at" in str(w.message) for w in caught)
