"""Beam pipeline options reach every Beam-powered component: in the local run's compiled IR and in the
Kubeflow spec's container arguments (a Dataflow configuration, as the README gives it)."""

import pytest
import yaml
from tfx.dsl.compiler import compiler
from tfx.dsl.components.base import base_beam_component
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

from cli import main as cli
from components import settings_core
from pipeline import settings
from pipeline.pipeline import create_pipeline

DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=my-project",
    "--region=europe-west4",
    "--temp_location=gs://catdog-test/beam-tmp",
    "--sdk_container_image=registry.example.com/ml/catdog:1",
    "--experiments=use_runner_v2",
    "--labels=team=ml vision",
]
# The ways a user writes them: one flag each (with or without '='), several in one quoted string.
DATAFLOW_FLAGS = [
    "--beam-arg",
    DATAFLOW[0],
    f"--beam-arg={DATAFLOW[1]}",
    "--beam-arg",
    " ".join(DATAFLOW[2:6]) + " '--labels=team=ml vision'",
]


def _beam_components(run_settings) -> set:
    pipeline = create_pipeline(run_settings, pipeline_root="/tmp/root", serving_model_dir="/tmp/serving")
    return {c.id for c in pipeline.components if isinstance(c, base_beam_component.BaseBeamComponent)}


def _parsed(*flags) -> settings.LocalRunSettings:
    """The settings `catdog run` makes of these flags."""
    args = cli.build_parser().parse_args(
        settings_core.attach_option_values(["run", "--data", "/tmp/d.zip", *flags], [settings.RunSettings])
    )
    return settings_core.from_args(settings.LocalRunSettings, args)


def test_each_way_of_writing_the_flag_gives_the_same_arguments_in_order():
    assert _parsed(*DATAFLOW_FLAGS).beam_pipeline_args == tuple(DATAFLOW)


def test_the_local_runs_beam_components_get_the_arguments_and_the_others_none():
    run_settings = _parsed("--beam-arg", "--direct_running_mode=multi_processing --direct_num_workers=2")
    pipeline = create_pipeline(run_settings, pipeline_root="/tmp/root", serving_model_dir="/tmp/serving")
    config = pipeline_pb2.IntermediateDeploymentConfig()
    compiler.Compiler().compile(pipeline).deployment_config.Unpack(config)
    beam_args = {}
    for node, spec in config.executor_specs.items():
        beam = executable_spec_pb2.BeamExecutableSpec()
        if spec.Unpack(beam):
            beam_args[node] = list(beam.beam_pipeline_args)
    assert (
        set(beam_args)
        == _beam_components(run_settings)
        >= {"ImageExampleGen", "StatisticsGen", "Transform", "Evaluator"}
    )
    assert all(a == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"] for a in beam_args.values())


@pytest.fixture(scope="module")
def dataflow_spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("kfp") / "dataflow.yaml"
    assert (
        cli.main(
            [
                "kfp",
                "compile",
                "--output",
                str(path),
                "--pipeline-root",
                "gs://catdog-test/root",
                "--data",
                "gs://catdog-test/data/cats.zip",
                "--image",
                "registry.example.com/ml/catdog:1",
                *DATAFLOW_FLAGS,
            ]
        )
        == 0
    )
    return yaml.safe_load(path.read_text())


def test_a_dataflow_configured_spec_runs_each_beam_component_with_the_arguments(dataflow_spec):
    executors = dataflow_spec["deploymentSpec"]["executors"]
    for node in _beam_components(_parsed()):
        args = executors[f"{node}_executor"]["container"]["args"]
        assert [a for a in args if a in DATAFLOW] == DATAFLOW, node
