"""What every audience's pages share: signing in and out, and where a signed-in user lands."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from api.permissions import is_manager, is_technician


class LoginView(auth_views.LoginView):
    """Technicians and managers sign in here (the admin keeps its own login page)."""

    template_name = "web/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "web:home"


def after_login(request: HttpRequest) -> HttpResponse:
    """Technicians to their worklist, coordinators and administrators to the dashboard."""
    if is_technician(request.user):
        return HttpResponseRedirect(reverse("web:worklist"))
    if is_manager(request.user):
        return HttpResponseRedirect(reverse("web:dashboard"))
    return HttpResponseRedirect(reverse("web:home"))
