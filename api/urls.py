"""The REST API under /api/v1/: one router (endpoints arrive with the API issue)."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()

urlpatterns = router.urls
