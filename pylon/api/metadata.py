from rest_framework.metadata import SimpleMetadata


class PylonMetadata(SimpleMetadata):
    """``OPTIONS``: DRF's description of a view, whose request-body part needs the view's one
    ``serializer_class``. Plain endpoints that pick a serializer per method (the preview, the policy)
    have none, and DRF's metadata then failed with a 500; they are described without body fields."""

    def determine_actions(self, request, view):
        # Imported here: rest_framework.views reads this class from the settings while it is imported.
        from rest_framework.generics import GenericAPIView

        declares_one = getattr(view, "serializer_class", None) is not None or (
            type(view).get_serializer_class is not GenericAPIView.get_serializer_class
        )
        if isinstance(view, GenericAPIView) and not declares_one:
            return {}
        return super().determine_actions(request, view)
