"""How a prediction reads wherever a person sees it (`catdog predict`, `catdog visualize`, the report): the
predicted class and the probability of that class. The model's `probability` output is the second class's
(the serving contract, kept as it is for TF Serving clients); this module turns it around, and lays out the
printed table and the JSON rows, so a column added to predictions is added here once."""

from collections.abc import Sequence

from components import contract

# The printed table's columns: (header, the value of a prediction row).
COLUMNS = [
    ("file", lambda row: row["file"]),
    ("class", lambda row: row[contract.CLASS_NAME_OUTPUT]),
    ("probability", lambda row: f"{class_probability(row):.6f}"),
    # components/ood.py: an image the model finds like neither class keeps its class, flagged here.
    ("neither", lambda row: "" if row.get("in_distribution", True) else f"neither (ood_score {row['ood_score']:.1f})"),
]


def probabilities(probability_of_second: float) -> list[float]:
    """Both classes' probabilities, by class id (the sorted class names)."""
    return [1.0 - probability_of_second, probability_of_second]


def of_class(class_id: int, probability_of_second: float) -> float:
    """The probability of class class_id, from the model's probability of the second class."""
    return probabilities(probability_of_second)[class_id]


def class_probability(row: dict) -> float:
    """The probability of the row's predicted class (row: a client's prediction, `probability` of the second)."""
    return of_class(row[contract.CLASS_ID_OUTPUT], row[contract.PROBABILITY_OUTPUT])


def caption(class_name: str, class_id: int, probability_of_second: float) -> str:
    """`dogs, probability 0.9731`: the predicted class and its own probability, as a title or a sentence says it."""
    return f"{class_name}, probability {of_class(class_id, probability_of_second):.4f}"


def table(rows: Sequence[dict]) -> str:
    """A header, then one tab-separated line per prediction; the `neither` column for models that say it."""
    columns = [c for c in COLUMNS if c[0] != "neither" or any(contract.IN_DISTRIBUTION_OUTPUT in r for r in rows)]
    lines = ["\t".join(header for header, _ in columns)]
    lines += ["\t".join(value(row) for _, value in columns) for row in rows]
    return "\n".join(lines)


def json_row(row: dict) -> dict:
    """{file, class_name, class_id, probability (of class_name), probabilities (both, by class id)}, and
    in_distribution and ood_score from models exported with them."""
    return {
        "file": row["file"],
        contract.CLASS_NAME_OUTPUT: row[contract.CLASS_NAME_OUTPUT],
        contract.CLASS_ID_OUTPUT: row[contract.CLASS_ID_OUTPUT],
        contract.PROBABILITY_OUTPUT: class_probability(row),
        "probabilities": probabilities(row[contract.PROBABILITY_OUTPUT]),
        **{key: row[key] for key in (contract.IN_DISTRIBUTION_OUTPUT, contract.OOD_SCORE_OUTPUT) if key in row},
    }
