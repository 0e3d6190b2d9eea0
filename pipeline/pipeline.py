"""The pipeline definition: one pure function that every runner calls."""

from typing import Any, Dict, List, Optional

from tfx import v1 as tfx

from components import evaluation, preprocessing, trainer
from components.ingest.component import ImageExampleGen
from components.pusher import AtomicPusher


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_uri: Any,
    serving_model_dir: str,
    preprocessing_fn: str,
    run_fn: str,
    data_sha256: Any = None,
    eval_percent: int = 20,
    download_timeout_seconds: Optional[int] = None,
    image_size: int = 150,
    train_config: Optional[Dict[str, Any]] = None,
    min_accuracy: Any = 0.70,
    enable_cache: bool = True,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[List[str]] = None,
    eval_config: Any = None,
    compare_to_blessed: bool = True,
    trainer_resources: Any = None,
) -> tfx.dsl.Pipeline:
    """Ingest -> validate -> Transform -> Trainer -> Evaluator (gated) -> Pusher.

    train_config holds the Trainer's custom_config (components.trainer.TrainConfig fields).
    eval_config replaces the one built from min_accuracy (Kubeflow passes a RuntimeParameter holding its JSON).
    compare_to_blessed=False leaves out the latest-blessed-model resolver: the gate is min_accuracy alone,
    as on a first run (open-source Kubeflow Pipelines cannot run resolver nodes).
    trainer_resources is the Trainer's platform config (Kubeflow: a ResourceSpec with CPU, memory, GPU).
    """
    example_gen = ImageExampleGen(
        data_uri=data_uri, sha256=data_sha256, eval_percent=eval_percent,
        download_timeout_seconds=download_timeout_seconds,
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=preprocessing_fn,
        custom_config={preprocessing.IMAGE_SIZE_KEY: image_size},
        # 150x150x3 floats are 270 KB an image: the Trainer applies the graph to raw examples
        # and caches the result in memory instead of reading them back from disk.
        materialize=False,
        disable_statistics=True,
    )
    trainer_component = tfx.components.Trainer(
        run_fn=run_fn,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config=train_config or {},
    )
    if trainer_resources is not None:
        trainer_component.with_platform_config(trainer_resources)
    latest_blessed = None
    if compare_to_blessed:
        latest_blessed = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        baseline_model=latest_blessed.outputs["model"] if latest_blessed is not None else None,
        eval_config=evaluation.eval_config(min_accuracy) if eval_config is None else eval_config,
    )
    pusher = AtomicPusher(
        model=trainer_component.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )
    nodes = [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        trainer_component,
        latest_blessed,
        evaluator,
        pusher,
    ]  # latest_blessed is None without a baseline
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[node for node in nodes if node is not None],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
