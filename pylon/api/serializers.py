from collections.abc import Mapping

from rest_framework import serializers

from pylon.core.exceptions import ErrorCode


class FieldProblemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `required`, `max_value`.")
    message = serializers.CharField(help_text="What is wrong, in words for people.")


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    code = serializers.ChoiceField(choices=ErrorCode.choices, help_text="Machine-readable error code.")
    message = serializers.CharField(help_text="What went wrong, in words for people.")
    fields = serializers.DictField(
        child=FieldProblemSerializer(many=True),
        help_text="Problems per field path (`coordinates.lat`); empty unless the error is about fields.",
    )


class StrictInputMixin:
    """Refuse keys the serializer does not write, instead of DRF's silent drop.

    A client that sends ``status`` or ``organization`` learns with a 400 naming the field that it
    cannot set it; it does not get a 200 that quietly ignored half its request.
    """

    #: Fields the system owns; named in the error so the client knows why it was refused.
    system_fields: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            refused = {key: [self._refusal(key)] for key in data if key not in writable}
            # DRF's CharField turns 0 into "0"; the schema says string, so a number is refused (an SDK
            # that sends one has a bug worth hearing about).
            refused |= {
                key: [serializers.ErrorDetail("Send a string.", code="invalid")]
                for key, value in data.items()
                if key in writable
                and isinstance(self.fields[key], serializers.CharField)
                and value is not None
                and not isinstance(value, str)
            }
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)

    def _refusal(self, key: str) -> serializers.ErrorDetail:
        if key in self.system_fields:
            return serializers.ErrorDetail("This field is set by Pylon and cannot be written.", code="read_only")
        if key in self.fields:
            return serializers.ErrorDetail("This field is read-only.", code="read_only")
        return serializers.ErrorDetail("Unknown field.", code="unknown_field")
