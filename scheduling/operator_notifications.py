"""What scheduling tells an organisation's operators about the capacity its work holds, through
``notifications.services``: that a zone is held over its capacity (``workloads.overbooking``), naming
the half hours, what is short and their organisation's work there — never another's. The people who
operate the organisation are told; an API key's principal is no one to tell."""

from __future__ import annotations

from collections import defaultdict

from accounts import selectors as account_selectors
from notifications import services as notification_services
from notifications.models import NotificationKind
from notifications.services import NotificationDraft
from workloads.capacity import fmt_utc
from workloads.overbooking import Overbooking


def notify_overbooked(*, overbookings: list[Overbooking]) -> int:
    """One notification per active operator of each organisation whose work is held in each window;
    one read of the operators and one insert, however many windows. Returns how many."""
    organization_ids = {organization_id for overbooking in overbookings for organization_id in overbooking.work}
    recipients: dict = defaultdict(list)
    for organization_id, pk in account_selectors.operator_list_active_of(organization_ids=organization_ids).values_list(
        "organization_id", "pk"
    ):
        recipients[organization_id].append(pk)
    drafts = []
    for overbooking in overbookings:
        title = f"{overbooking.zone_name} is over capacity from {fmt_utc(overbooking.slots[0])}"
        for organization_id, jobs in overbooking.work.items():
            others = sum(len(j) for org, j in overbooking.work.items() if org != organization_id)
            besides = f", besides {others} workload(s) of other organisations" if others else ""
            body = (
                f"{overbooking.sentence()} Your organisation's work held there: {', '.join(jobs)}{besides}. "
                "A late start or an overrun is not refused, but the next assignment or start there is: "
                "reassign, reschedule or cancel some of it to make room."
            )
            drafts.extend(
                NotificationDraft(recipient_id=pk, kind=NotificationKind.OVERBOOKED, title=title, body=body)
                for pk in recipients[organization_id]
            )
    return notification_services.notification_create_many(drafts=drafts) if drafts else 0
