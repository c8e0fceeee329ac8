"""Structured JSON logs: one object per line, with the request id and user id, and never an NHS
number (a ten-digit run, spaced or not, is masked wherever it appears, query strings included)."""

import re

import structlog

# Not inside a longer run of letters and digits: a request id (a UUID) may hold ten digits in a
# row, and masking them would break the id that ties a request's lines together.
NHS_NUMBER_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9A-Za-z])")
MASK = "[nhs-number]"


def mask_nhs_numbers(value):
    if isinstance(value, str):
        return NHS_NUMBER_PATTERN.sub(MASK, value)
    if isinstance(value, dict):
        return {key: mask_nhs_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_nhs_numbers(item) for item in value)
    return value


def redact_nhs_numbers(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: runs last before rendering, over every field."""
    return {key: mask_nhs_numbers(value) if key != "exc_info" else value for key, value in event_dict.items()}


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
                    redact_nhs_numbers,
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
            "django_structlog": {"level": level},
        },
    }
