"""Public endpoints for households, anonymous: self-registration and the status lookup."""

from django.urls import path

from api.public import ApplicationRegisterView, StatusLookupView
from audit.middleware import request_id_exempt

urlpatterns = [
    path("applications/", ApplicationRegisterView.as_view(), name="public-application-register"),
    # A wrong code and an unknown folio must answer with identical headers (reliability.md A3).
    path("status/", request_id_exempt(StatusLookupView.as_view()), name="public-status-lookup"),
]
