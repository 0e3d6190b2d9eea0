"""Reads the JSON files the pipeline writes, with errors that name the file."""

import json
from collections.abc import Sequence
from typing import Any

from components import files
from insight.errors import InsightError


def read_json_object(path: str, required_keys: Sequence[str] = ()) -> dict[str, Any]:
    try:
        value = json.loads(files.read_text(path))
    except files.FileRefused as e:
        raise InsightError(str(e)) from e
    except json.JSONDecodeError as e:
        raise InsightError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise InsightError(f"{path}: expected a JSON object, found {type(value).__name__}")
    missing = [key for key in required_keys if key not in value]
    if missing:
        raise InsightError(f"{path}: missing {', '.join(missing)}")
    return value
