"""The cost of writing a response's outputs as TF Serving does (Tensor::AsProtoField: typed fields,
serving.server.request_limits.as_proto_field) against the tf.make_tensor_proto the server used before
(tensor_content for numbers), for one image's outputs and 64 images'. Writes bench/results/tfs_output_protos.json.

    .venv/bin/python bench/tfs_output_protos.py
"""

import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402

CALLS, REPEATS = 2000, 5


def outputs(images: int) -> dict:
    return {
        "probability": np.random.default_rng(0).random(images, np.float32),
        "class_id": np.zeros(images, np.int64),
        "class_name": np.array([b"cats"] * images, dtype=object),
    }


def main() -> None:
    import tensorflow as tf

    from serving.server.request_limits import as_proto_field

    result = {}
    for images in (1, 64):
        values = outputs(images)
        typed = (
            min(
                timeit.repeat(
                    lambda values=values: [as_proto_field(v) for v in values.values()], number=CALLS, repeat=REPEATS
                )
            )
            / CALLS
            * 1e6
        )
        before = (
            min(
                timeit.repeat(
                    lambda values=values: [tf.make_tensor_proto(v) for v in values.values()],
                    number=CALLS,
                    repeat=REPEATS,
                )
            )
            / CALLS
            * 1e6
        )
        result[f"{images}_images"] = {
            "as_proto_field_us": round(typed, 1),
            "make_tensor_proto_us": round(before, 1),
            "ratio": round(typed / before, 2),
        }
    record.save("tfs_output_protos", result)


if __name__ == "__main__":
    main()
