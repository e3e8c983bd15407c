"""The error classes for bad user input, in one module that imports nothing of the project, so any
module can raise them without an import cycle. The CLI prints their message (no traceback) and exits 2."""
import reprlib


class UserError(ValueError):
    """Bad input from a user: a file, field or value. The message names it."""


class ResultError(UserError):
    """Well-formed input whose result would be wrong (e.g. a modelled accumulator overflowed): the CLI
    prints the message in one line and exits 1, not 2."""
    exit_code = 1


class HwConfigError(UserError):
    """A malformed accelerator config; the message names the file and the key path."""


def excerpt(value, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters: a message shows a bounded excerpt of a value, never its
    expansion (an alias bomb or a megabyte string stays a short line). Containers are walked only as far
    as the excerpt needs."""
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset, r.maxstring, r.maxother = 3, 6, 6, 6, 6, limit, limit
    text = r.repr(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
