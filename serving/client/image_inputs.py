"""How images go into the exported signatures and how their outputs come back as predictions.
The gRPC client and in-process prediction share it, so both ask and answer the same way."""

from typing import Dict, List, Mapping, Sequence

import numpy as np

from components import contract



def check_signature(signature_name: str) -> None:
    if signature_name not in contract.SIGNATURE_INPUTS:
        raise ValueError(
            f"signature {signature_name!r} does not classify images; use one of {sorted(contract.SIGNATURE_INPUTS)}"
        )


def signature_inputs(signature_name: str, images: Sequence[bytes]) -> Dict[str, List[bytes]]:
    """{input name: one string per image} for the signature, from encoded image files."""
    check_signature(signature_name)
    if not images:
        raise ValueError("no images to classify")
    images = list(images)
    if signature_name == contract.TF_EXAMPLE_SIGNATURE:
        images = [contract.tf_example(image) for image in images]
    return {contract.SIGNATURE_INPUTS[signature_name]: images}


def predictions(outputs: Mapping[str, np.ndarray]) -> List[dict]:
    """[{class_name, probability}] per image from a signature's outputs."""
    names = outputs[contract.CLASS_NAME_OUTPUT]
    probabilities = outputs[contract.PROBABILITY_OUTPUT]
    return [
        {"class_name": name.decode(), "probability": float(probability)}
        for name, probability in zip(names, probabilities)
    ]
