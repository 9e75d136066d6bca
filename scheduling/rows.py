"""Unsaved ``Recommendation`` and ``SchedulingOutcome`` rows, built fast: a recompute writes tens of
thousands of them, and ``Model.__init__``'s per-field loop was a fifth of its cost."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import signals
from django.db.models.base import ModelState

from scheduling import engine
from scheduling.models import Recommendation, SchedulingOutcome

OUTCOME_UPDATE_FIELDS = [
    "feasible",
    "constraint",
    "message",
    "details",
    "baseline_emissions_kg",
    "baseline_cost_gbp",
    "energy_kwh",
    "energy_was_estimated",
    "policy_preset",
    "carbon_weight",
    "price_weight",
    "wait_weight",
    "forecast_fetched_at",
    "workload_updated_at",
    "computed_at",
    "run_id",
]


class RowMaker:
    """Unsaved instances of ``model`` from tuples of values in ``columns`` order (every concrete
    field's ``attname``, checked once here).

    ``maker()`` returns the constructor to use for one batch: it sets ``_state`` and the field values
    directly, as ``Model.__init__`` does for a full positional call but without its per-field
    ``setattr`` loop (a fifth of the cost, which matters for the tens of thousands of rows of a
    recompute). When something listens to ``pre_init``/``post_init`` for the model, it goes through
    ``Model.__init__`` so that the signals are sent."""

    def __init__(self, model, columns: Sequence[str]):
        attnames = [field.attname for field in model._meta.concrete_fields]
        if len(columns) != len(attnames) or set(columns) != set(attnames):
            raise TypeError(f"{model.__name__}: columns must be exactly {attnames}")
        self.model = model
        self.columns = tuple(columns)
        self.order = [self.columns.index(name) for name in attnames]

    def maker(self):
        model, columns, order = self.model, self.columns, self.order
        if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
            return lambda values: model(*[values[k] for k in order])
        new = object.__new__

        def make(values: tuple):
            obj = new(model)
            obj._state = ModelState()
            obj.__dict__.update(zip(columns, values, strict=True))
            return obj

        return make


new_recommendation = RowMaker(
    Recommendation,
    (
        "id",
        "workload_id",
        "rank",
        "zone_id",
        "start",
        "end",
        "expected_emissions_kg",
        "expected_cost_gbp",
        "carbon_saving_kg",
        "cost_saving_gbp",
        "mean_intensity",
        "mean_price",
        "wait_mins",
        "score",
        "score_carbon",
        "score_price",
        "score_wait",
        "energy_kwh",
        "forecast_fetched_at",
        "computed_at",
        "run_id",
    ),
)
new_outcome = RowMaker(SchedulingOutcome, ("workload_id", *OUTCOME_UPDATE_FIELDS))


def recommendation_rows(
    plan: engine.WorkloadPlan,
    *,
    make: Callable[[tuple], Recommendation],
    workload_id: Any,
    zone_pk: Mapping[str, Any],
    fetched_at=None,
    computed_at=None,
    run_id=None,
) -> list[Recommendation]:
    """A plan's options as unsaved recommendations ranked 1.., made by ``make`` (a batch's
    ``new_recommendation.maker()``): the one rule of what an option's row holds, for the rows a
    recompute stores and the options a preview shows."""
    energy = plan.energy_kwh_used
    return [
        make(
            (
                None,
                workload_id,
                rank,
                zone_pk[option.zone],
                option.start,
                option.end,
                option.emissions_kg,
                option.cost_gbp,
                None if option.carbon_saving_g is None else option.carbon_saving_g / 1000.0,
                option.cost_saving_gbp,
                option.mean_intensity,
                option.mean_price,
                option.wait_mins,
                option.score,
                option.score_parts.carbon,
                option.score_parts.price,
                option.score_parts.wait,
                energy,
                fetched_at,
                computed_at,
                run_id,
            )
        )
        for rank, option in enumerate(plan.options, start=1)
    ]
