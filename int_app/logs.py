"""Structured JSON logs: one object per line, with the request id and user id, and never an NHS
number (a ten-digit run, spaced or not, is masked wherever it appears, query strings included) nor
text a person typed into a search (a resident's name in `?q=`)."""

import re

import structlog

# Not inside a longer run of letters and digits: a request id (a UUID) may hold ten digits in a
# row, and masking them would break the id that ties a request's lines together.
NHS_NUMBER_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9A-Za-z])")
MASK = "[nhs-number]"


# Query parameters whose values the service itself offers (ids, choices, page numbers, dates,
# versions), so they never hold what someone typed. Every other parameter's value is masked:
# search boxes (`q`), a typed NHS number, a `next` address that carries its own query string, and
# whatever a page adds later, until it is named here.
OFFERED_QUERY_PARAMETERS = frozenset(
    {
        "page", "status", "sort", "since", "version", "kind", "residents",
        "team", "pcn", "neighbourhood", "practice", "key_worker",
        "no_consent", "no_contact", "start_from", "start_to",
    }
)
QUERY_PARAMETER_PATTERN = re.compile(r"(?:^|(?<=[?&]))([^=&?#\s]+)=([^&#\s]*)")
TYPED_MASK = "[typed]"


def _mask_typed_value(match: re.Match) -> str:
    name, value = match.group(1), match.group(2)
    if not value or name in OFFERED_QUERY_PARAMETERS:
        return match.group(0)
    return f"{name}={TYPED_MASK}"


def mask_typed_text(text: str) -> str:
    return QUERY_PARAMETER_PATTERN.sub(_mask_typed_value, text)


def mask_nhs_numbers(text: str) -> str:
    return NHS_NUMBER_PATTERN.sub(MASK, text)


# A calendar feed's address is its own key (meetings/calendar.py): a log line must not hand it on.
CALENDAR_TOKEN_PATTERN = re.compile(r"(/calendar/)[^/?#\s\"]+(\.ics)")
TOKEN_MASK = "[token]"


def mask_calendar_tokens(text: str) -> str:
    return CALENDAR_TOKEN_PATTERN.sub(rf"\g<1>{TOKEN_MASK}\g<2>", text)


def mask_personal_data(value):
    if isinstance(value, str):
        return mask_calendar_tokens(mask_nhs_numbers(mask_typed_text(value)))
    if isinstance(value, dict):
        return {key: mask_personal_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_personal_data(item) for item in value)
    return value


def redact_personal_data(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: runs last before rendering, over every field."""
    return {key: mask_personal_data(value) if key != "exc_info" else value for key, value in event_dict.items()}


SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def logging_config(level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_personal_data,
                    structlog.processors.JSONRenderer(),
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            # WeasyPrint narrates every step of every PDF at INFO; fontTools each font subset.
            "weasyprint": {"level": "WARNING"},
            "fontTools": {"level": "WARNING"},
            "django_structlog": {"level": level},
        },
    }
