"""Shared write helpers (HackSoft's styleguide ``common/services.py``)."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def model_update(
    *, instance: M, fields: list[str], data: dict[str, Any], validate: Callable[[M], None] | None = None
) -> tuple[M, bool]:
    """Set only the allow-listed ``fields`` found in ``data``, validate, and save those columns.

    The allow-list is the defence against mass assignment: a key outside ``fields`` is ignored here,
    so callers must reject unknown keys earlier if they want the client told (serializers do).
    ``validate`` (raising) checks rules across fields on the changed instance before ``full_clean``.
    Returns the instance and whether anything changed.
    """
    changed = [name for name in fields if name in data and getattr(instance, name) != data[name]]
    for name in changed:
        setattr(instance, name, data[name])
    if changed:
        if validate is not None:
            validate(instance)
        instance.full_clean()
        update_fields = list(changed)
        if any(f.name == "updated_at" for f in instance._meta.get_fields()):
            update_fields.append("updated_at")
        instance.save(update_fields=update_fields)
    return instance, bool(changed)
