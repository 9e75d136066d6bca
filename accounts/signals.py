"""What the accounts app tells the rest of Pylon (apps above it connect receivers)."""

from django.dispatch import Signal

#: An account is about to be deleted, inside the deleting transaction. Arguments: ``user`` (still in
#: the database) and ``placeholder`` (its organisation's "deleted user", or None for an account with
#: no organisation). Receivers move what must outlive the account onto the placeholder.
account_erasing = Signal()
