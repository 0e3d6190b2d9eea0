"""How images go into the exported signatures and how their outputs come back as predictions.
The gRPC client and in-process prediction share it, so both ask and answer the same way."""

from collections.abc import Mapping, Sequence

import numpy as np

from components import contract


def check_signature(signature_name: str) -> None:
    if signature_name not in contract.SIGNATURE_INPUTS:
        raise ValueError(
            f"signature {signature_name!r} does not classify images; use one of {sorted(contract.SIGNATURE_INPUTS)}"
        )


def signature_inputs(signature_name: str, images: Sequence[bytes]) -> dict[str, list[bytes]]:
    """{input name: one string per image} for the signature, from encoded image files."""
    check_signature(signature_name)
    if not images:
        raise ValueError("no images to classify")
    images = list(images)
    if signature_name == contract.TF_EXAMPLE_SIGNATURE:
        images = [contract.tf_example(image) for image in images]
    return {contract.SIGNATURE_INPUTS[signature_name]: images}


def predictions(outputs: Mapping[str, np.ndarray]) -> list[dict]:
    """[{class_name, class_id, probability (of the second class, as served), in_distribution, ood_score}] per
    image from a signature's outputs (the last two from models exported with them)."""
    names = outputs[contract.CLASS_NAME_OUTPUT]
    class_ids = outputs[contract.CLASS_ID_OUTPUT]
    probabilities = outputs[contract.PROBABILITY_OUTPUT]
    rows = [
        {"class_name": name.decode(), "class_id": int(class_id), "probability": float(probability)}
        for name, class_id, probability in zip(names, class_ids, probabilities)
    ]
    if contract.OOD_SCORE_OUTPUT in outputs:
        for row, flag, score in zip(rows, outputs[contract.IN_DISTRIBUTION_OUTPUT], outputs[contract.OOD_SCORE_OUTPUT]):
            row.update(in_distribution=bool(flag), ood_score=float(score))
    return rows
