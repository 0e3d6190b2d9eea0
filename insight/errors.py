"""The one error type the reports raise for input they cannot use, so commands print it without a traceback."""

from components.errors import CatdogError


class InsightError(CatdogError, ValueError):
    """A file or folder the reports cannot use; the message names it and the problem."""
