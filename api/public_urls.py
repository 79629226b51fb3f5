"""Public endpoints for households, anonymous: self-registration and the status lookup."""

from django.urls import path

from api.public import ApplicationRegisterView, StatusLookupView

urlpatterns = [
    path("applications/", ApplicationRegisterView.as_view(), name="public-application-register"),
    path("status/", StatusLookupView.as_view(), name="public-status-lookup"),
]
