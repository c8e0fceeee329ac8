"""allauth's OpenID Connect addresses and names (the provider reverses them), our views."""

from django.urls import include, path

from . import views

urlpatterns = [
    path(
        "oidc/<str:provider_id>/",
        include(
            [
                path("login/", views.login, name="openid_connect_login"),
                path("login/callback/", views.callback, name="openid_connect_callback"),
            ]
        ),
    )
]
