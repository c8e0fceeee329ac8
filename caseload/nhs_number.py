"""NHS number checks: ten digits, the last a modulus-11 check digit over the first nine."""

from django.core.exceptions import ValidationError

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise_nhs_number(raw: str) -> str:
    """People write NHS numbers as 943 476 5919 or 943-476-5919; we store the ten digits."""
    return "".join(ch for ch in str(raw) if ch not in " -")


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no valid number can start with them."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, WEIGHTS, strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(raw: str) -> bool:
    number = normalise_nhs_number(raw)
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        return False
    return nhs_number_check_digit(number[:9]) == int(number[9])


def validate_nhs_number(raw: str) -> None:
    number = normalise_nhs_number(raw)
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        raise ValidationError("An NHS number is 10 digits, like 943 476 5919.", code="nhs_number_format")
    if nhs_number_check_digit(number[:9]) != int(number[9]):
        raise ValidationError(
            "This is not a valid NHS number: its last digit does not match. Check it against the letter or record.",
            code="nhs_number_check_digit",
        )
