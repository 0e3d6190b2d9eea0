"""`catdog kfp run-local`: the compiled package executed task by task by KFP's own local runner (kfp.local, in the
side environment .venv-kfp), each task's container command a process of the project's environment.

The end-to-end run is the suite's slowest test: nine tasks, each a fresh process importing TensorFlow and TFX,
their Beam jobs through Beam's portable runner (438 s for the fixture's run, pytest --durations, on 2 cores at a
load average of 3-5). The adapter's tests run hand-written tasks in seconds."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import imagegen
import pytest
import tensorflow_model_analysis as tfma
import yaml
from beam_portable import BEAM_COMPONENTS, jobs_and_workers, portable_runner
from conftest import run_catdog
from google.protobuf import json_format
from serving_fixtures import MODEL_NAME, local_server, reference_predictions, sample_images, wait_until_available

from cli import main as cli
from components import settings_core
from pipeline import kfp_local, settings
from serving.client.grpc_client import PredictClient

pytestmark = pytest.mark.timeout(3600)

GPU_TYPE = "nvidia.com/gpu"


@pytest.fixture(scope="module")
def side_python() -> str:
    return kfp_local.side_env_python()


def _driver(side_python, package: Path, root: Path) -> dict:
    """Runs the driver as `catdog kfp run-local` does, with this environment's python as the image's."""
    result = root / "result.json"
    proc = subprocess.run(
        [
            side_python,
            str(kfp_local.DRIVER),
            "--package",
            str(package),
            "--pipeline-root",
            str(root / "artifacts"),
            "--python-bin",
            str(Path(sys.executable).parent),
            "--logs",
            str(root / "logs"),
            "--result",
            str(result),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    record = json.loads(result.read_text())
    record["stdout"], record["returncode"] = proc.stdout, proc.returncode
    return record


def test_run_local_puts_package_root_and_serving_folder_under_its_output_and_takes_a_local_zip(tmp_path):
    data = Path(imagegen.split_dataset(tmp_path / "data.zip", train_per_class=2, eval_per_class=1))
    args = cli.build_parser().parse_args(["kfp", "run-local", "--data", str(data), "--output", str(tmp_path / "o")])
    local = kfp_local.local_settings(settings_core.from_args(settings.KubeflowLocalSettings, args))
    out = tmp_path / "o"
    assert (local.package_path, local.pipeline_root, local.serving_model_dir) == (
        str(out / "catdog-pipeline.yaml"),
        str(out / "artifacts"),
        str(out / "serving" / MODEL_NAME),
    )
    assert local.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    # The cluster's package still refuses what its pods could not read.
    with pytest.raises(settings_core.SettingsError, match="give a URL the cluster can read"):
        settings.KubeflowSettings(data_uri=str(data), serving_dir="gs://b/serving")


# The adapter, on hand-written tasks: KFP's executor input in, KFP's executor output out
# (https://www.kubeflow.org/docs/components/pipelines/reference/ : ExecutorInput / ExecutorOutput in
# pipeline_spec.proto), the placeholders resolved by kfp.local.

# Each task's command: the project's python (sys.prefix tells which) reading the executor input ({{$}}).
TASK_SCRIPT = r"""
import json, os, sys
executor_input = json.loads(sys.argv[1])
fail = executor_input["inputs"]["parameterValues"].get("fail")
if fail:
    print("told to fail:", fail)
    sys.exit(3)
outputs = executor_input["outputs"]
seen = {"prefix": sys.prefix, "parameters": executor_input["inputs"]["parameterValues"],
        "inputs": {k: v["artifacts"][0] for k, v in executor_input["inputs"].get("artifacts", {}).items()}}
artifact = outputs["artifacts"]["examples"]["artifacts"][0]
os.makedirs(artifact["uri"], exist_ok=True)
with open(os.path.join(artifact["uri"], "seen.json"), "w") as f:
    json.dump(seen, f)
artifact["metadata"] = {"split_names": '["train", "eval"]', "task": os.path.basename(os.path.dirname(artifact["uri"]))}
os.makedirs(os.path.dirname(outputs["outputFile"]), exist_ok=True)
with open(outputs["outputFile"], "w") as f:
    json.dump({"artifacts": {"examples": {"artifacts": [artifact]}}}, f)
"""
EXAMPLES_TYPE = {"instanceSchema": "title: tfx.Examples\ntype: object\n"}


def _component(with_input: bool) -> dict:
    inputs = {"parameters": {"data_uri": {"parameterType": "STRING"}, "fail": {"parameterType": "STRING"}}}
    if with_input:
        inputs["artifacts"] = {"examples_in": {"artifactType": EXAMPLES_TYPE}}
    return {
        "executorLabel": "",
        "inputDefinitions": inputs,
        "outputDefinitions": {"artifacts": {"examples": {"artifactType": EXAMPLES_TYPE}}},
    }


def _package(path: Path, fail_task: str = "") -> Path:
    """Three tasks named the way TFX names them (no comp- prefix): two ExampleGens, then a consumer of the first."""
    components, executors, tasks = {}, {}, {}
    for name, upstream in (("ImageExampleGen", ""), ("ScoreExampleGen", ""), ("Consumer", "ImageExampleGen")):
        components[name] = dict(_component(bool(upstream)), executorLabel=f"{name}_executor")
        executors[f"{name}_executor"] = {
            "container": {
                "image": "catdog:latest",
                "command": ["python", "-c", TASK_SCRIPT],
                "args": ["{{$}}"],
                "env": [{"name": "CATDOG_TASK", "value": name}],
            }
        }
        task = {
            "componentRef": {"name": name},
            "taskInfo": {"name": name},
            "inputs": {
                "parameters": {
                    "data_uri": {"componentInputParameter": "data_uri"},
                    "fail": {"runtimeValue": {"constant": "yes" if name == fail_task else ""}},
                }
            },
        }
        if upstream:
            task["dependentTasks"] = [upstream]
            task["inputs"]["artifacts"] = {
                "examples_in": {"taskOutputArtifact": {"producerTask": upstream, "outputArtifactKey": "examples"}}
            }
        tasks[name] = task
    spec = {
        "pipelineInfo": {"name": "adapter-check"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "tfx-1.16.0",
        "components": components,
        "deploymentSpec": {"executors": executors},
        "root": {
            "dag": {"tasks": tasks},
            "inputDefinitions": {
                "parameters": {"data_uri": {"parameterType": "STRING", "defaultValue": "gs://bucket/data.zip"}}
            },
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_adapter_runs_each_task_in_this_environment_and_passes_artifacts_by_uri(side_python, tmp_path):
    run = _driver(side_python, _package(tmp_path / "p.yaml"), tmp_path)
    assert run["returncode"] == 0 and run["state"] == "SUCCEEDED", run["stdout"]
    tasks = run["tasks"]
    assert set(tasks) == {"ImageExampleGen", "ScoreExampleGen", "Consumer"}
    for name in tasks:
        assert f"task {name}: started" in run["stdout"] and f"task {name}: SUCCEEDED in" in run["stdout"]
    produced = tasks["ImageExampleGen"]["outputs"]["examples"]
    # Each task its own folder (kfp.local alone would cut "comp-" off both names: one "eExampleGen" folder).
    assert produced["uri"] != tasks["ScoreExampleGen"]["outputs"]["examples"]["uri"]
    assert Path(produced["uri"]).parent.name == "ImageExampleGen"
    assert produced["metadata"] == {"split_names": '["train", "eval"]', "task": "ImageExampleGen"}

    seen = json.loads((Path(tasks["Consumer"]["outputs"]["examples"]["uri"]) / "seen.json").read_text())
    assert seen["prefix"] == sys.prefix  # the project's environment, not the side one
    assert seen["parameters"] == {"data_uri": "gs://bucket/data.zip", "fail": ""}  # the runtime parameter's default
    consumed = seen["inputs"]["examples_in"]
    assert consumed["uri"] == produced["uri"] and consumed["metadata"] == produced["metadata"]
    command = json.loads(Path(tasks["Consumer"]["command"]).read_text())
    assert command["env"] == {"CATDOG_TASK": "Consumer"}
    assert (
        json.loads(command["command"][-1])["inputs"]["artifacts"]["examples_in"]["artifacts"][0]["uri"]
        == produced["uri"]
    )  # {{$}} resolved to the executor input


def test_a_failing_task_stops_the_run_and_keeps_its_log(side_python, tmp_path):
    run = _driver(side_python, _package(tmp_path / "p.yaml", fail_task="ImageExampleGen"), tmp_path)
    assert run["returncode"] == 1 and run["state"] == "FAILED"
    assert run["tasks"]["ImageExampleGen"]["state"] == "FAILED"
    assert "Consumer" not in run["tasks"]  # its input never came
    assert "told to fail: yes" in Path(run["tasks"]["ImageExampleGen"]["log"]).read_text()


def test_resolver_tasks_are_refused_before_anything_runs(side_python, tmp_path):
    package = _package(tmp_path / "p.yaml")
    spec = yaml.safe_load(package.read_text())
    spec["deploymentSpec"]["executors"]["Consumer_executor"] = {"resolver": {"outputArtifactQueries": {}}}
    package.write_text(yaml.safe_dump(spec))
    run = _driver(side_python, package, tmp_path)
    assert run["state"] == "NOT_RUN" and run["unsupported"] == ["Consumer (resolver)"] and not run["tasks"]


def test_vertex_job_is_refused_for_its_resolver_in_one_line(tmp_path):
    data = imagegen.split_dataset(tmp_path / "data.zip", train_per_class=2, eval_per_class=1)
    result = run_catdog("kfp", "run-local", "--format", "vertex-json", "--data", data, "--output", tmp_path / "out")
    assert result.returncode == 2
    assert "latest_blessed_model_resolver-model-resolver (resolver)" in result.stderr
    assert (tmp_path / "out" / "catdog-pipeline.json").is_file()  # compiled and kept, nothing ran
    assert "task " not in result.stdout


# The compiled package, end to end.


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The run's Beam components go through Beam's portable runner (tests/beam_portable.py): the option a user
    checks a pipeline change for distributed runners with, here with KFP's task processes as the launchers."""
    root = tmp_path_factory.mktemp("kfp_local")
    data = Path(imagegen.split_dataset(root / "data.zip", train_per_class=10, eval_per_class=5))
    output = root / "out"
    with portable_runner(root) as beam_args:
        result = run_catdog(
            "kfp",
            "run-local",
            "--data",
            data,
            "--output",
            output,
            "--model",
            "tutorial",
            "--epochs",
            1,
            "--min-accuracy",
            0,
            "--gpus",
            1,
            "--gpu-type",
            GPU_TYPE,
            "--beam-arg",
            *beam_args,
            timeout=3300,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads((output / kfp_local.RESULT_FILE).read_text())
    package = yaml.safe_load((output / "catdog-pipeline.yaml").read_text())
    return data, output, result, record, package, jobs_and_workers(root)


def _executor_input(task: dict) -> dict:
    command = json.loads(Path(task["command"]).read_text())["command"]
    return json.loads(command[command.index("--json_serialized_invocation_args") + 1])


def test_every_task_of_the_package_succeeds_with_a_line_as_it_starts_and_ends(local_run):
    _, _, result, record, package, _ = local_run
    names = set(package["root"]["dag"]["tasks"])
    assert set(record["tasks"]) == names and record["state"] == "SUCCEEDED"
    for name in names:
        assert f"task {name}: started" in result.stdout
        assert f"task {name}: SUCCEEDED in" in result.stdout


def test_artifacts_flow_by_the_uris_of_the_spec(local_run):
    _, _, _, record, package, _ = local_run
    edges = 0
    for name, task in package["root"]["dag"]["tasks"].items():
        consumed = _executor_input(record["tasks"][name])["inputs"].get("artifacts", {})
        for key, source in task["inputs"].get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            uri = record["tasks"][producer["producerTask"]]["outputs"][producer["outputArtifactKey"]]["uri"]
            assert consumed[key]["artifacts"][0]["uri"] == uri, (name, key)
            assert any(Path(uri).iterdir()), uri
            edges += 1
    assert edges >= 12


def test_runtime_parameters_reach_their_components(local_run):
    data, _, _, record, package, _ = local_run
    defaults = {k: v["defaultValue"] for k, v in package["root"]["inputDefinitions"]["parameters"].items()}
    example_gen = _executor_input(record["tasks"]["ImageExampleGen"])["inputs"]["parameterValues"]
    assert example_gen["data_uri"] == defaults["data_uri"] == str(data)
    assert example_gen["sha256"] == defaults["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    eval_config = _executor_input(record["tasks"]["Evaluator"])["inputs"]["parameterValues"]["eval_config"]
    assert eval_config == defaults["eval_config"]
    floors = [
        m.threshold.value_threshold.lower_bound.value
        for s in json_format.Parse(eval_config, tfma.EvalConfig()).metrics_specs
        for m in s.metrics
        if m.threshold.HasField("value_threshold")
    ]
    assert floors == [0]


def test_the_trainer_ran_from_a_spec_with_its_resources_and_gpu_request(local_run):
    _, _, _, record, package, _ = local_run
    trainer = package["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    assert trainer["resources"]["accelerator"] == {"type": GPU_TYPE, "count": "1"}
    assert trainer["resources"]["cpuLimit"] > 0 and trainer["resources"]["memoryLimit"] > 0
    ran = json.loads(Path(record["tasks"]["Trainer"]["command"]).read_text())["command"]
    assert ran[: len(trainer["command"])] == trainer["command"]


def test_pusher_writes_a_version_that_catdog_serve_answers(local_run):
    _, output, result, record, _, _ = local_run
    destination = record["tasks"]["AtomicPusher"]["outputs"]["pushed_model"]["metadata"]["pushed_destination"]
    version = Path(destination)
    assert version.parent == output / "serving" / MODEL_NAME and version.name.isdigit()
    assert f"Model pushed to {destination}" in result.stdout
    assert "Validation accuracy: " in result.stdout
    images = list(sample_images().values())[:4]
    with local_server(version.parent) as (target, _):
        wait_until_available(target)
        with PredictClient(target, MODEL_NAME) as client:
            answers = client.predict(images)
    expected = reference_predictions(version, images)
    assert [a["class_name"] for a in answers] == [e["class_name"] for e in expected]
    assert [a["probability"] for a in answers] == pytest.approx([e["probability"] for e in expected], abs=1e-6)


def test_the_beam_tasks_ran_as_jobs_of_beams_job_service_in_its_worker_pool(local_run):
    *_, package, (jobs, workers) = local_run
    beam_args = json.dumps(package["deploymentSpec"]["executors"]["Transform_executor"]["container"])
    assert "--runner=PortableRunner" in beam_args  # the option is compiled into the tasks' commands
    assert len(jobs) >= BEAM_COMPONENTS and len(workers) >= BEAM_COMPONENTS
