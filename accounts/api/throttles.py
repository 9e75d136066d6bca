import hashlib

from rest_framework.throttling import SimpleRateThrottle


class EmailAddressRateThrottle(SimpleRateThrottle):
    """Counts requests per email address in the body, whoever sends them: one address cannot be
    flooded with reset emails from many clients. The key is a hash (no addresses in the cache)."""

    scope = "password_reset_address"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email.strip():
            return None  # the serializer answers 400
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}
