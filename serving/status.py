"""Errors that carry TF Serving's status codes, so the server, the client and in-process prediction
report a problem the same way."""

import re

import grpc

from components.errors import CatdogError

# TensorFlow's error codes and gRPC's status codes are the same numbers.
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
# What TF adds around an op's own message: graph positions and op names, noise to a client.
_TF_MESSAGE_NOISE = re.compile(
    r"Graph execution error:|Detected at node .*|<stack traces unavailable>|\[\[.*?\]\]|\[Op:[^\]]*\]"
    r"|\{\{function_node [^}]*\}\}"
)


class ServingError(CatdogError):
    """A request (or a model load) failed with a status code a client can act on."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def code_from_number(number: int) -> grpc.StatusCode:
    return _CODES_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def tf_error_message(message: str) -> str:
    """The op's own words from a TensorFlow error, e.g. "Unknown image file format. ..."."""
    core = " ".join(_TF_MESSAGE_NOISE.sub(" ", message).split())
    return core or message
