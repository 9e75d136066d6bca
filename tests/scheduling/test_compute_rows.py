"""The recompute's row building: unsaved instances without ``Model.__init__`` (unless someone listens
to its signals), and the collector paused only while it computes."""

from __future__ import annotations

import gc
import uuid

import pytest
from django.db.models import signals
from django.utils import timezone

from scheduling import recompute, rows
from scheduling.models import Recommendation, SchedulingOutcome


def _values(columns: tuple[str, ...]) -> tuple:
    now = timezone.now()
    sample = {
        "id": None,
        "workload_id": uuid.uuid4(),
        "rank": 2,
        "zone_id": uuid.uuid4(),
        "start": now,
        "end": now,
        "run_id": uuid.uuid4(),
        "forecast_fetched_at": None,
        "computed_at": now,
        "workload_updated_at": now,
        "feasible": False,
        "constraint": "CAPACITY",
        "message": "No zone has 8 free GPUs",
        "details": {"gpu": {"needed": 8.0}},
        "energy_was_estimated": True,
        "policy_preset": "BALANCED",
    }
    return tuple(sample.get(name, 1.5) for name in columns)


@pytest.mark.parametrize("maker", [rows.new_recommendation, rows.new_outcome], ids=["rec", "outcome"])
def test_rows_are_the_instances_init_would_make(maker) -> None:
    values = _values(maker.columns)
    made = maker.maker()(values)
    expected = maker.model(**dict(zip(maker.columns, values, strict=True)))
    for name in maker.columns:
        assert getattr(made, name) == getattr(expected, name), name
    assert made._state.adding and made._state.db is None
    assert made.pk == expected.pk


def test_rows_go_through_init_when_its_signals_have_receivers() -> None:
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(receiver, sender=Recommendation)
    try:
        values = _values(rows.new_recommendation.columns)
        made = rows.new_recommendation.maker()(values)
    finally:
        signals.post_init.disconnect(receiver, sender=Recommendation)
    assert seen == [made]
    assert made.rank == 2 and made.zone_id == values[rows.new_recommendation.columns.index("zone_id")]


def test_rows_must_name_every_column() -> None:
    columns = rows.new_outcome.columns
    with pytest.raises(TypeError):
        rows.RowMaker(SchedulingOutcome, columns[:-1])
    with pytest.raises(ValueError):
        rows.new_outcome.maker()(_values(columns)[:-1])


def test_gc_pause_restores_the_collector() -> None:
    assert gc.isenabled()
    with recompute.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), recompute.gc_paused():
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with recompute.gc_paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()
