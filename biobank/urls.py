"""URL configuration: web pages, the API, the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from biobank.views.home import home

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("biobank.web_urls")),
    path("api/", include("biobank.api.urls")),
    path("analysis/", include("analysis.urls")),
    path("admin/", admin.site.urls),
]

# Under /api/ these answer JSON (biobank.views.errors); elsewhere Django's pages.
handler400 = "biobank.views.errors.bad_request"
handler403 = "biobank.views.errors.permission_denied"
handler404 = "biobank.views.errors.page_not_found"
handler500 = "biobank.views.errors.server_error"
