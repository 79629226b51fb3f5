"""Sign-in endpoints under /api/v1/auth/: a token per device, the caller's devices, sign-out."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from api.auth_views import DeviceTokenViewSet, TokenView

router = SimpleRouter()
router.register("tokens", DeviceTokenViewSet, basename="auth-token-device")

urlpatterns = [
    path("token/", TokenView.as_view(), name="auth-token"),
    *router.urls,
]
