"""The base of every error a user can cause: `catdog` prints it as one line, without a traceback."""


class CatdogError(Exception):
    """Bad input or a refused operation; the message names the file or value and the problem."""
