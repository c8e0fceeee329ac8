"""The one way the service draws a PDF: from a template, with the print stylesheet, reading only
static files."""

import io

import pypdf

from int_app.teams.pdf import pdf_from_template


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def test_a_template_becomes_a_pdf_with_its_text_escaped():
    content = pdf_from_template("teams/pdf/check.html", {"title": "Outcome of discussion", "text": "Falls <b>twice</b> & a fracture"})

    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert "Outcome of discussion" in text
    assert "Falls <b>twice</b> & a fracture" in text
    assert "Page 1 of 1" in text  # the print stylesheet was read


def test_a_pdf_never_fetches_from_the_network_or_reads_other_files(caplog):
    for image in ("http://127.0.0.1:9/x.png", "file:///etc/passwd"):
        content = pdf_from_template("teams/pdf/check.html", {"title": "T", "text": "x", "image": image})

        assert content.startswith(b"%PDF-")
        assert f"PDFs read static files only, not {image}" in caplog.text
