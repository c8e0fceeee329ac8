"""Every PDF the service produces (outcome summaries, subject access bundles) is drawn here, from a
template, by WeasyPrint: HTML and CSS in, PDF bytes out, no browser. WeasyPrint needs Pango from
the operating system (Debian: libpango-1.0-0 libpangoft2-1.0-0; the Dockerfile installs them)."""

from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.template.loader import render_to_string

# The print stylesheet every PDF template links to: the NHS.UK look (fonts, colours, headings)
# without the frontend's screen-only components.
PDF_STYLESHEET = "css/pdf.css"


def pdf_from_template(template_name: str, context: dict) -> bytes:
    """Render `template_name` with `context` and return the PDF's bytes. Static files are read from
    the source or collected static folders, never over the network."""
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s, only PDF work pays it

    html = render_to_string(template_name, {**context, "pdf_stylesheet": _static_url(PDF_STYLESHEET)})
    return HTML(string=html, url_fetcher=_static_files_fetcher()).write_pdf()


def _static_url(name: str) -> str:
    from django.contrib.staticfiles import finders

    found = finders.find(name)
    return Path(found or Path(settings.STATIC_ROOT) / name).resolve().as_uri()


def _static_files_fetcher():
    """A fetcher that reads files under the static folders and nothing else: a URL in stored text
    must not make the server fetch from the network, or read other files, while drawing a PDF."""
    from weasyprint.urls import URLFetcher

    folders = [d[1] if isinstance(d, tuple) else d for d in settings.STATICFILES_DIRS]
    roots = [Path(d).resolve() for d in [*folders, settings.STATIC_ROOT]]

    class StaticFilesFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            path = Path(unquote(urlparse(url).path)).resolve() if url.startswith("file:") else None
            if path is None or not any(path.is_relative_to(root) for root in roots):
                raise ValueError(f"PDFs read static files only, not {url[:80]}")
            return super().fetch(url, headers)

    return StaticFilesFetcher(allowed_protocols={"file"})
