"""A model name becomes a folder under the serving directory, so it must be a plain name: no separators,
no `..`, nothing absolute; the Pusher, `catdog serve` and the command line all check it here."""

import re

from components.errors import CatdogError

# TF Serving's model names in practice: letters, digits, dot, dash, underscore; not starting with a dot.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def plain_model_name(name: str) -> str:
    """name itself, or CatdogError if it could lead a path anywhere but into its own folder."""
    if not _PLAIN_NAME.fullmatch(name):
        raise CatdogError(
            f"model name {name!r} is not a plain name: use letters, digits, '.', '-' or '_' "
            "(at most 128, not starting with '.'), no '/' or '..'"
        )
    return name
