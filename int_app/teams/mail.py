"""Every email the service sends is built here, so that its headers are one line whatever is stored."""

from django.core.mail import EmailMultiAlternatives

from .validators import header_text


def email_send(
    *,
    subject: str,
    body: str,
    to: list[str],
    from_email: str | None = None,
    html: str | None = None,
    attachments: list[tuple[str, bytes | str, str]] = (),
) -> None:
    """Send one email now: called by the worker's tasks, never by a request. `attachments` are
    (file name, content, MIME type), e.g. a PDF or a text/calendar invitation."""
    message = EmailMultiAlternatives(header_text(subject), body, from_email, to)
    if html:
        message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(header_text(filename), content, mimetype)
    message.send()
