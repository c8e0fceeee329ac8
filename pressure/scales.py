"""The alert scale practices report on: its levels, their words, colours and OPEL values, and which
of them alert the PCN lead.

A deployment has one scale (docs/adr/0012-practice-alert-scale.md): the ICS bulletin's six levels
until a superuser picks another in the admin, from a preset or level by level. Every level maps to
an OPEL value from 1 to 4, and a report keeps its level's number, word, colour, OPEL value and
whether it alerted as they were when it was saved, so changing the scale never re-reads an old
report: old and new reports stay comparable through their OPEL values."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

MAX_LEVELS = 6
MIN_LEVELS = 2
OPEL_VALUES = (1, 2, 3, 4)
# GPAS's amber is OPEL 2: the situation report counts the patients of practices at or above it.
AMBER_OPEL = 2


class Colour(models.TextChoices):
    """Colours from the NHS.UK palette, each with the text colour that reads on it at 4.5:1 or more
    (WCAG AA). static/css/app.css has one `app-colour--<value>` rule for each, and a test holds
    the two together."""

    LIGHT_BLUE = "light-blue", "NHS light blue"
    LIGHT_GREEN = "light-green", "NHS light green"
    AQUA_GREEN = "aqua-green", "NHS aqua green"
    YELLOW = "yellow", "NHS yellow"
    WARM_YELLOW = "warm-yellow", "NHS warm yellow (amber)"
    ORANGE = "orange", "NHS orange"
    PALE_GREY = "pale-grey", "NHS pale grey"
    DARK_GREEN = "dark-green", "NHS dark green"
    BLUE = "blue", "NHS blue"
    RED = "red", "NHS red"
    DARK_RED = "dark-red", "NHS dark red"
    PINK = "pink", "NHS pink"
    PURPLE = "purple", "NHS purple"
    DARK_GREY = "dark-grey", "NHS dark grey"
    BLACK = "black", "NHS black"


NHS_BLACK, WHITE = "#212b32", "#ffffff"
# (background, text): the hex values of the NHS.UK frontend's palette.
COLOURS: dict[str, tuple[str, str]] = {
    Colour.LIGHT_BLUE: ("#41b6e6", NHS_BLACK),
    Colour.LIGHT_GREEN: ("#78be20", NHS_BLACK),
    Colour.AQUA_GREEN: ("#00a499", NHS_BLACK),
    Colour.YELLOW: ("#ffeb3b", NHS_BLACK),
    Colour.WARM_YELLOW: ("#ffb81c", NHS_BLACK),
    Colour.ORANGE: ("#ed8b00", NHS_BLACK),
    Colour.PALE_GREY: ("#e8edee", NHS_BLACK),
    Colour.DARK_GREEN: ("#006747", WHITE),
    Colour.BLUE: ("#005eb8", WHITE),
    Colour.RED: ("#d5281b", WHITE),
    Colour.DARK_RED: ("#8a1538", WHITE),
    Colour.PINK: ("#ae2573", WHITE),
    Colour.PURPLE: ("#330072", WHITE),
    Colour.DARK_GREY: ("#425563", WHITE),
    Colour.BLACK: (NHS_BLACK, WHITE),
}


def colour_class(colour: str) -> str:
    """The CSS class of a stored colour; one no longer offered gets the plain look, never an error."""
    return f"app-colour--{colour}" if colour in COLOURS else "app-colour--none"


class Preset(models.TextChoices):
    ICS_BULLETIN = "ics_bulletin", "ICS bulletin (6 levels)"
    GPAS = "gpas", "GPAS / GP OPEL (4: green, amber, red, black)"


@dataclass(frozen=True)
class Level:
    number: int
    label: str
    colour: str
    opel: int
    alerts: bool

    @property
    def colour_class(self) -> str:
        return colour_class(self.colour)

    @property
    def level(self) -> int:
        """As a report names it, so a level and a report show alike (pressure/level.html)."""
        return self.number

    @property
    def choice_label(self) -> str:
        return f"{self.number} – {self.label}"


@dataclass(frozen=True)
class Scale:
    name: str
    levels: tuple[Level, ...]

    def level(self, number: int) -> Level | None:
        return next((level for level in self.levels if level.number == number), None)

    @property
    def top(self) -> int:
        return len(self.levels)

    @property
    def alerting(self) -> list[Level]:
        return [level for level in self.levels if level.alerts]

    def alert_hint(self) -> str:
        """The report form's hint: which levels alert the PCN lead."""
        alerting = [str(level.number) for level in self.alerting]
        if not alerting:
            return f"1 is the lowest, {self.top} the highest."
        if len(alerting) == 1:
            return f"1 is the lowest. Level {alerting[0]} alerts your PCN lead."
        return f"1 is the lowest. Levels {', '.join(alerting[:-1])} and {alerting[-1]} alert your PCN lead."


# The bulletin's words come from PRACTICE_PRESSURE_LABELS (a deployment may rename them); its
# level 4 of 6 counts as amber (OPEL 2), and levels 5 and 6 alert, as they always have.
BULLETIN_COLOURS = (Colour.LIGHT_BLUE, Colour.LIGHT_GREEN, Colour.YELLOW, Colour.ORANGE, Colour.RED, Colour.PURPLE)
BULLETIN_OPEL = (1, 1, 1, 2, 3, 4)
BULLETIN_ALERTS = (False, False, False, False, True, True)
GPAS_LEVELS = (
    ("green", Colour.LIGHT_GREEN, 1, False),
    ("amber", Colour.WARM_YELLOW, 2, False),
    ("red", Colour.RED, 3, True),
    ("black", Colour.BLACK, 4, True),
)


def preset_scale(preset: str) -> Scale:
    if preset == Preset.GPAS:
        levels = tuple(
            Level(number, label, colour, opel, alerts)
            for number, (label, colour, opel, alerts) in enumerate(GPAS_LEVELS, start=1)
        )
        return Scale(Preset.GPAS.label, levels)
    labels = settings.PRACTICE_PRESSURE_LABELS
    levels = tuple(
        Level(number, labels[number - 1], str(colour), opel, alerts)
        for number, colour, opel, alerts in zip(range(1, 7), BULLETIN_COLOURS, BULLETIN_OPEL, BULLETIN_ALERTS, strict=True)
    )
    return Scale(Preset.ICS_BULLETIN.label, levels)


def default_scale() -> Scale:
    return preset_scale(Preset.ICS_BULLETIN)


def scale_problems(levels: list[Level]) -> list[str]:
    """What is wrong with a scale's levels, in words for the admin; empty when nothing is."""
    problems = []
    if not MIN_LEVELS <= len(levels) <= MAX_LEVELS:
        problems.append(f"A scale has from {MIN_LEVELS} to {MAX_LEVELS} levels; this one has {len(levels)}.")
    numbers = [level.number for level in levels]
    if numbers != list(range(1, len(levels) + 1)):
        problems.append("The levels are numbered 1, 2, 3 … from the lowest, with none missed.")
    labels = [level.label.strip().casefold() for level in levels]
    if any(not label for label in labels):
        problems.append("Every level needs a word.")
    elif len(set(labels)) != len(labels):
        problems.append("Two levels have the same word.")
    if any(level.colour not in COLOURS for level in levels):
        problems.append("Every level needs a colour from the list.")
    opels = [level.opel for level in sorted(levels, key=lambda level: level.number)]
    if any(opel not in OPEL_VALUES for opel in opels):
        problems.append("Every level maps to an OPEL value from 1 to 4.")
    elif opels != sorted(opels):
        problems.append("A higher level cannot map to a lower OPEL value than the level below it.")
    return problems


def validate_scale(levels: list[Level]) -> None:
    if problems := scale_problems(levels):
        raise ValidationError(problems)
