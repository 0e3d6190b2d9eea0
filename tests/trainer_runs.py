"""The Trainer's run_fn on a finished run's examples and Transform graph, as TFX calls it.

Run as a script, it trains in a process of its own, which can first split the CPU into logical devices
(TensorFlow takes that only before it initialises its devices) or join a TF_CONFIG cluster:
    python tests/trainer_runs.py RUN_OUTPUT OUT_DIR CONFIG_JSON [--logical-cpus N] [--memory-bytes N]
It writes OUT_DIR/replicas-<task>.json: the trained model's output kernel on each of its replicas, as it was
handed to the exporter.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fn_args(run_output: Path, out_dir: Path, custom_config: dict):
    """What TFX hands run_fn, for the examples and Transform graph of a finished run."""
    from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils, standard_artifacts

    # The fixture's own run: the first execution of each (later tests run the pipeline again into its folder).
    def first_execution(outputs):
        return min((d for d in outputs.iterdir() if d.name.isdigit()), key=lambda d: int(d.name))

    examples_dir = first_execution(run_output / "artifacts" / "ImageExampleGen" / "examples")
    transform_dir = first_execution(run_output / "artifacts" / "Transform" / "transform_graph")
    examples = standard_artifacts.Examples()
    examples.uri = str(examples_dir)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return FnArgs(
        train_files=[str(examples_dir / "Split-train" / "*")],
        eval_files=[str(examples_dir / "Split-eval" / "*")],
        transform_output=str(transform_dir),
        transform_graph_path=str(transform_dir),
        data_accessor=DataAccessor(
            tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
            record_batch_factory=None,
            data_view_decode_fn=None,
        ),
        model_run_dir=str(out_dir / "model_run"),
        serving_model_dir=str(out_dir / "serving"),
        custom_config=custom_config,
    )


def task_name() -> str:
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task")
    return f"{task['type']}-{task['index']}" if task else "alone"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_output", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("config", type=json.loads)
    parser.add_argument("--logical-cpus", type=int, default=1)
    parser.add_argument("--memory-bytes", type=int, default=0, help="the machine's memory as the Trainer sees it")
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)

    from components import exporter, train_input, trainer

    if args.memory_bytes:
        train_input.machine_memory_bytes = lambda: args.memory_bytes
    replicas = {}
    export = exporter.export

    def recording_export(model, *rest):
        kernel = model.get_layer("probability").kernel
        replicas["kernels"] = [v.numpy().ravel().tolist() for v in getattr(kernel, "values", [kernel])]
        return export(model, *rest)

    exporter.export = recording_export
    trainer.run_fn(fn_args(args.run_output, args.out_dir, args.config))
    (args.out_dir / f"replicas-{task_name()}.json").write_text(json.dumps(replicas))


if __name__ == "__main__":
    main()
