from django.urls import path

from events.api import views

urlpatterns = [
    path("events/stream-tickets/", views.StreamTicketView.as_view(), name="event-stream-tickets"),
    path("events/stream/", views.EventStreamView.as_view(), name="event-stream"),
]
