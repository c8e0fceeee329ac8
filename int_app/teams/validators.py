from django.core.validators import RegexValidator

# ODS codes: a GP practice is a letter and five digits (M85001); a PCN is U and five digits.
practice_ods_code_validator = RegexValidator(
    r"^[A-Z][0-9]{5}$", "A practice ODS code is a capital letter and five digits, like M85001."
)
pcn_ods_code_validator = RegexValidator(
    r"^U[0-9]{5}$", "A PCN ODS code is U followed by five digits, like U12345."
)
