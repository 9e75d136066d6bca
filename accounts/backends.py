"""Who may sign in with a password (the API's token endpoint and the admin alike)."""

from django.contrib.auth.backends import ModelBackend


class PersonBackend(ModelBackend):
    """Django's email-and-password check, for people only: an API key's principal or a "deleted
    user" placeholder never signs in, whatever password someone may have set on it."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and getattr(user, "is_person", True)
