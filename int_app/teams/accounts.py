"""How people log in: django-allauth by email address, with django-axes counting failures."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts are created by staff admins for named members of a team, never by sign-up.
        return False


class LoginForm(AllauthLoginForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Email address"
        self.fields["password"].label = "Password"
        self.fields["login"].widget.attrs.pop("placeholder", None)
        self.fields["password"].widget.attrs.pop("placeholder", None)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "nhsuk-input")


def username_for_axes(request: HttpRequest, credentials: dict | None) -> str:
    """allauth posts the address as `login` and authenticates with `email`; the admin uses
    `username`. Lock the account whichever door was knocked on."""
    credentials = credentials or {}
    raw = (
        credentials.get("email")
        or credentials.get("username")
        or (request.POST.get("login") if request is not None else None)
        or (request.POST.get("username") if request is not None else None)
        or ""
    )
    return raw.strip().lower()
