"""The one error type ingestion raises for bad input, so callers can print it without a traceback."""

from components.errors import CatdogError


class DatasetError(CatdogError, ValueError):
    """The dataset cannot be used; the message names the file and the problem."""
