from rest_framework import parsers
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError


class JSONDocumentParser(parsers.JSONParser):
    """DRF's JSON parser, but a document nested too deeply for Python's decoder (``[[[[…]]]]``) is a
    400 ``parse_error`` like any other malformed body, not a ``RecursionError`` and a 500. Any JSON
    document: for a body that is not an object (the batch upload's array)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")


class JSONParser(JSONDocumentParser):
    """The API's JSON bodies are objects: ``null``, ``[]``, ``3`` or ``"text"`` is a 400 here, for every
    endpoint, rather than read as "no body" (an action's serializer would take ``None`` for ``{}``).
    An empty body never reaches a parser: DRF reads it as ``{}``."""

    def parse(self, stream, media_type=None, parser_context=None):
        document = super().parse(stream, media_type, parser_context)
        if not isinstance(document, dict):
            raise ValidationError(
                {"non_field_errors": [ErrorDetail("The body must be a JSON object.", code="invalid")]}
            )
        return document
