"""A resident is identified by their NHS number: ten digits, the last a modulus-11 check digit."""

import pytest
from django.core.exceptions import ValidationError

from caseload.nhs_number import is_valid_nhs_number, nhs_number_check_digit, validate_nhs_number

from ..factories import valid_nhs_number

VALID = "9434765919"  # the NHS's own published example


def test_the_published_example_is_valid_however_it_is_written():
    for written in ("9434765919", "943 476 5919", "943-476-5919"):
        assert is_valid_nhs_number(written)
        validate_nhs_number(written)


@pytest.mark.parametrize("number", [VALID] + [valid_nhs_number(seed) for seed in (0, 17, 4_242, 99_999)])
def test_every_single_digit_change_of_a_valid_number_is_rejected(number):
    assert is_valid_nhs_number(number)
    for position in range(10):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1 :]
            assert not is_valid_nhs_number(changed), f"{changed} (digit {position + 1} changed) was accepted"
            with pytest.raises(ValidationError):
                validate_nhs_number(changed)


def test_a_number_whose_check_digit_would_be_10_is_never_valid():
    # 1 0 0 0 0 0 0 0 1 -> 10 + 2 = 12; 12 mod 11 = 1; 11 - 1 = 10: no valid check digit exists.
    assert nhs_number_check_digit("100000001") is None
    for last in "0123456789":
        assert not is_valid_nhs_number(f"100000001{last}")


def test_check_digit_11_becomes_0():
    # 0 0 0 0 0 0 0 0 0 -> sum 0; 11 - 0 = 11 -> 0.
    assert nhs_number_check_digit("000000000") == 0


@pytest.mark.parametrize("written", ["", "943476591", "94347659190", "943476591X", "９４３４７６５９１９"])
def test_wrong_lengths_letters_and_non_ascii_digits_get_a_clear_message(written):
    with pytest.raises(ValidationError) as refused:
        validate_nhs_number(written)
    assert "10 digits" in refused.value.messages[0]


def test_a_wrong_check_digit_says_so():
    with pytest.raises(ValidationError) as refused:
        validate_nhs_number("9434765918")
    assert "last digit does not match" in refused.value.messages[0]
