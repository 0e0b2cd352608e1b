"""Server-rendered pages."""

from django.urls import URLPattern, path

from app.web import views

urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
]
