"""Which requests take an ``Idempotency-Key``: one rule for the middleware and the schema."""

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def applies_to(view_class, method: str) -> bool:
    """Every POST of an API view, except views that set ``idempotency_exempt`` (public ones, sign-in, token
    rotation and logout, whose responses are credentials that must never be stored or replayed;
    previews, which write nothing)."""
    return (
        method.upper() == "POST"
        and view_class is not None
        and hasattr(view_class, "authentication_classes")  # a DRF view
        and not getattr(view_class, "idempotency_exempt", False)
    )


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a usable key, or None. Keys are opaque: visible ASCII, at most 255 characters
    (a UUID v4 is what clients should send)."""
    if not key:
        return "Must not be empty."
    if len(key) > MAX_KEY_LENGTH:
        return f"Use at most {MAX_KEY_LENGTH} characters."
    if not all(" " < char <= "~" for char in key):
        return "Use visible ASCII characters only."
    return None
