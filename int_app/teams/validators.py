import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# ODS codes: a GP practice is a letter and five digits (M85001); a PCN is U and five digits.
practice_ods_code_validator = RegexValidator(
    r"^[A-Z][0-9]{5}$", "A practice ODS code is a capital letter and five digits, like M85001."
)
pcn_ods_code_validator = RegexValidator(
    r"^U[0-9]{5}$", "A PCN ODS code is U followed by five digits, like U12345."
)
# A sub-ICB location (formerly a CCG) code: two digits and a letter, like 15E.
sub_icb_code_validator = RegexValidator(
    r"^[0-9A-Z]{3,5}$", "A sub-ICB location code is three to five capital letters or digits, like 15E."
)

# Every line break an email header would refuse (str.splitlines' set: \n, \r, \v, \f, the file,
# group and record separators, NEL and the Unicode line and paragraph separators).
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def single_line_validator(value: str) -> None:
    """Names that reach an email's subject (series, teams, practices, people) stay on one line."""
    if LINE_BREAK.search(value):
        raise ValidationError("Keep this on one line: it is used in email subjects.", code="line_break")


def header_text(value: object) -> str:
    """Text as an email header can carry it: all whitespace, line breaks included, collapsed to one
    space. Applied where headers are built, so a value stored before validation cannot stop mail."""
    return " ".join(str(value).split())
