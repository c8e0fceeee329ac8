"""How people log in: django-allauth by email address, with django-axes counting failures."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import ResetPasswordForm as AllauthResetPasswordForm
from allauth.account.forms import ResetPasswordKeyForm as AllauthResetPasswordKeyForm
from allauth.core import context as allauth_context
from django import forms
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpRequest

from int_app.celery import enqueue_on_commit

from .cis2.sign_out import sign_out_keep, sign_out_url


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts are created by staff admins for named members of a team, never by sign-up.
        return False

    def get_login_stages(self) -> list[str]:
        # Our MFA stage: allauth's, except that it asks nothing of a CIS2 sign-in (cis2/stages.py).
        return [
            "int_app.teams.cis2.stages.AuthenticateStage" if stage == "allauth.mfa.stages.AuthenticateStage" else stage
            for stage in super().get_login_stages()
        ]

    def post_login(self, request: HttpRequest, user, **kwargs):
        sign_out_keep(request, (kwargs.get("signal_kwargs") or {}).get("sociallogin"))
        return super().post_login(request, user, **kwargs)

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        # Read before the session ends (allauth's LogoutView asks first): a CIS2 session signs out of CIS2 too.
        return sign_out_url(request) or super().get_logout_redirect_url(request)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Rendered here, where the templates have the request; sent by the worker once the
        request's work has committed, so a mail server that is down never becomes a server error."""
        from .tasks import send_rendered_email

        request = allauth_context.request
        message = self.render_mail(
            template_prefix, email, {"request": request, "email": email, "current_site": get_current_site(request), **context}
        )
        html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), None)
        enqueue_on_commit(send_rendered_email, message.subject, message.body, message.to, message.from_email, html)


PASSWORDS_OFF = "Passwords are switched off for this service. Sign in with NHS CIS2."


class AuthenticationBackend(AllauthBackend):
    """allauth's backend, refusing every password when INT_LOCAL_PASSWORDS is off: the login page,
    the admin's login and anything else that authenticates with a password. A CIS2 sign-in does
    not authenticate with a password, so it still works."""

    def authenticate(self, request: HttpRequest | None, **credentials):
        if not settings.INT_LOCAL_PASSWORDS:
            return None
        return super().authenticate(request, **credentials)


class LoginForm(AllauthLoginForm):
    def clean(self):
        # Before allauth authenticates, so the refusal is said plainly and never counts as a failure.
        if not settings.INT_LOCAL_PASSWORDS:
            raise forms.ValidationError(PASSWORDS_OFF)
        return super().clean()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Email address"
        self.fields["password"].label = "Password"
        self.fields["login"].widget.attrs.pop("placeholder", None)
        self.fields["password"].widget.attrs.pop("placeholder", None)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "nhsuk-input")


class ResetPasswordForm(AllauthResetPasswordForm):
    """Someone whose invitation is still waiting chooses their password through the invitation's
    link only (which then sets up their authenticator app): a reset sends them nothing, and the
    page answers as it does for any address."""

    def clean_email(self) -> str:
        email = super().clean_email()
        self.users = [user for user in self.users if not user.invitations.pending().exists()]
        return email

    def clean(self):
        if not settings.INT_LOCAL_PASSWORDS:
            raise forms.ValidationError(PASSWORDS_OFF)
        return super().clean()


class ResetPasswordKeyForm(AllauthResetPasswordKeyForm):
    def clean(self):
        if not settings.INT_LOCAL_PASSWORDS:
            raise forms.ValidationError(PASSWORDS_OFF)
        return super().clean()


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
