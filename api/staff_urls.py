"""Staff endpoints: one router."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
urlpatterns: list = []
