"""Where every benchmark's raw result goes: bench/results/<name>.json (committed), so a README figure
names the file it comes from instead of being typed in."""

import datetime
import json
import os
import sys

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def save(name: str, result: dict) -> str:
    """Writes the result with the command that made it and when; prints it; returns the file's path."""
    record = {
        "command": " ".join([".venv/bin/python", os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "result": result,
    }
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(json.dumps(record, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return path
