"""What every `cascade-lab` command shares: the user-error types and the --set parsing."""

from __future__ import annotations

import difflib

DEMO = "cascade-demo"


class UserError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


class SweepInterruptedError(Exception):
    """Ctrl-C: reported in one line (what was kept, how to continue) with exit code 130."""


def closest(name: str, valid: tuple[str, ...]) -> str:
    """ " (did you mean …?); valid: …" for an unknown name."""
    near = difflib.get_close_matches(name, valid, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"{hint}; valid: {', '.join(valid)}"


def parse_value(text: str) -> object:
    """A --set value: int, float, a comma-separated tuple, or a string (a word such as
    "false" or "none" is left to `model.overrides` to read in the field's own type)."""
    if "," in text:
        return tuple(_number_or_text(x.strip()) for x in text.split(","))
    return _number_or_text(text)


def _number_or_text(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_sets(items: list[str]) -> dict[str, object]:
    """`key=value` pairs from --set into a dict of overrides."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set takes key=value, got {item!r}")
        out[key] = parse_value(value)
    return out


def checked(check, *args):
    """Call a check of `experiments.checks`; its ValueError becomes a UserError."""
    try:
        return check(*args)
    except ValueError as err:
        raise UserError(str(err)) from None
