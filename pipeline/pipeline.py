"""The pipeline definition: one pure function that every runner calls."""

from typing import Any

# TFX's own modules, not its public `tfx.v1` namespace: importing that imports every extension too, Vertex AI's
# SDK among them, about a third of a local run's start-up imports (docs/benchmarks.md, issue 24's section).
from tfx import components as tfx_components
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import bulk_inferrer_pb2, pusher_pb2
from tfx.types import Channel, standard_artifacts

from components import contract, evaluation, preprocessing
from components.data_gate import DataGate
from components.ingest.component import ImageExampleGen
from components.pusher import AtomicPusher
from pipeline import configs
from pipeline.settings import RunSettings


def bulk_inferrer_specs() -> tuple[bulk_inferrer_pb2.ModelSpec, bulk_inferrer_pb2.OutputExampleSpec]:
    """BulkInferrer runs the numeric tf.Example signature and adds its outputs to each example as columns."""
    columns = [
        bulk_inferrer_pb2.PredictOutputCol(output_key=key, output_column=key)
        for key in (
            contract.PROBABILITY_OUTPUT,
            contract.CLASS_ID_OUTPUT,
            contract.IN_DISTRIBUTION_OUTPUT,
            contract.OOD_SCORE_OUTPUT,
        )
    ]
    return (
        bulk_inferrer_pb2.ModelSpec(model_signature_name=[contract.SCORE_TF_EXAMPLE_SIGNATURE]),
        bulk_inferrer_pb2.OutputExampleSpec(
            output_columns_spec=[
                bulk_inferrer_pb2.OutputColumnsSpec(
                    predict_output=bulk_inferrer_pb2.PredictOutput(output_columns=columns)
                )
            ]
        ),
    )


def create_pipeline(
    settings: RunSettings,
    *,
    pipeline_root: str,
    serving_model_dir: str,
    data_uri: Any = None,
    data_sha256: Any = None,
    data_fingerprint: str = "",
    eval_config: Any = None,
    enable_cache: bool = True,
    metadata_connection_config=None,
    compare_to_blessed: bool = True,
    trainer_resources: Any = None,
    trainer_cloud_config: dict[str, Any] | None = None,
    score_data_key: tuple[str, str] = ("", ""),
) -> Pipeline:
    """Ingest -> validate (gated) -> Transform -> Trainer -> Evaluator (gated) -> Pusher, and with
    settings.score_data_uri, ingest those images unlabelled -> BulkInferrer (blessed models only).

    data_uri, data_sha256 and eval_config replace the ones the settings give (Kubeflow passes
    RuntimeParameters; eval_config then holds the EvalConfig's JSON).
    data_fingerprint is what the local runner saw of a folder's or an object store's files (it keys the cache).
    compare_to_blessed=False leaves out the latest-blessed-model resolver: the gate is min_accuracy alone,
    as on a first run (open-source Kubeflow Pipelines cannot run resolver nodes).
    trainer_resources is the Trainer's platform config (Kubeflow: a ResourceSpec with CPU, memory, GPU).
    trainer_cloud_config makes the Trainer TFX's Google Cloud Trainer, which trains in a Vertex AI Training job
    (several workers): the keys it adds to the Trainer's custom_config.
    score_data_key is (sha256, fingerprint) of the score data, keying its cache as data_sha256 and data_fingerprint do.
    """
    example_gen = ImageExampleGen(
        data_uri=settings.data_uri if data_uri is None else data_uri,
        sha256=(settings.data_sha256 or None) if data_sha256 is None else data_sha256,
        eval_percent=settings.eval_percent,
        download_timeout_seconds=settings.download_timeout_seconds,
        keep_cross_split_duplicates=settings.keep_cross_split_duplicates,
        data_fingerprint=data_fingerprint or None,
    ).with_id(configs.TRAINING_EXAMPLE_GEN_ID)
    statistics_gen = tfx_components.StatisticsGen(examples=example_gen.outputs["examples"])
    # The schema Transform parses the examples with, inferred from this data.
    schema_gen = tfx_components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    # The schema the data is held to: a kept or checked-in reference, so that drifting data shows as
    # anomalies instead of as a new schema. Transform keeps the inferred one, so its cache holds across runs.
    reference_schema = ImportSchemaGen(schema_file=settings.schema_file) if settings.schema_file else None
    example_validator = tfx_components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=(reference_schema or schema_gen).outputs["schema"]
    )
    data_gate = DataGate(example_validator.outputs["anomalies"], settings.allow_anomalies)
    transform = tfx_components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
        custom_config={preprocessing.IMAGE_SIZE_KEY: settings.image_size},
        # 150x150x3 floats are 270 KB an image: the Trainer applies the graph to raw examples
        # and caches the result in memory instead of reading them back from disk.
        materialize=False,
        disable_statistics=True,
    )
    transform.add_upstream_node(data_gate)
    if trainer_cloud_config is None:
        trainer_class = tfx_components.Trainer
    else:
        from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer as trainer_class
    trainer_component = trainer_class(
        run_fn=configs.RUN_FN,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config={**settings.train_config(), **(trainer_cloud_config or {})},
    ).with_id(configs.TRAINER_ID)
    if trainer_resources is not None:
        trainer_component.with_platform_config(trainer_resources)
    latest_blessed = None
    if compare_to_blessed:
        latest_blessed = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
    evaluator = tfx_components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        baseline_model=latest_blessed.outputs["model"] if latest_blessed is not None else None,
        eval_config=evaluation.eval_config(settings.min_accuracy, settings.max_regression)
        if eval_config is None
        else eval_config,
    ).with_id(configs.EVALUATOR_ID)
    pusher = AtomicPusher(
        model=trainer_component.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    ).with_id(configs.PUSHER_ID)
    score_example_gen = bulk_inferrer = None
    if settings.score_data_uri:
        score_example_gen = ImageExampleGen(
            data_uri=settings.score_data_uri,
            sha256=score_data_key[0] or None,
            eval_percent=settings.eval_percent,
            download_timeout_seconds=settings.download_timeout_seconds,
            unlabelled=True,
            data_fingerprint=score_data_key[1] or None,
        ).with_id(configs.SCORE_EXAMPLE_GEN_ID)
        model_spec, output_example_spec = bulk_inferrer_specs()
        # Given the blessing, BulkInferrer scores only a model the Evaluator blessed: for another it writes
        # nothing. The output examples are the input ones (file name, image) with probability and class_id.
        bulk_inferrer = tfx_components.BulkInferrer(
            examples=score_example_gen.outputs["examples"],
            model=trainer_component.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            model_spec=model_spec,
            output_example_spec=output_example_spec,
        ).with_id(configs.BULK_INFERRER_ID)
    nodes = [
        example_gen,
        statistics_gen,
        schema_gen,
        reference_schema,
        example_validator,
        data_gate,
        transform,
        trainer_component,
        latest_blessed,
        evaluator,
        pusher,
        score_example_gen,
        bulk_inferrer,
    ]  # None: reference_schema without a schema file, latest_blessed without a baseline, the last two without
    # score data
    return Pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=[node for node in nodes if node is not None],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(settings.beam_pipeline_args),
    )
