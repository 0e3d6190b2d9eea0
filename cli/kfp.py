"""`catdog kfp compile|deploy|run-local`: the pipeline on Kubeflow Pipelines 2 (or Vertex AI), or the compiled
package run on this machine by KFP's local runner."""

import dataclasses
import sys
import time
from urllib.parse import urlparse

from components import files, settings_core
from components.errors import CatdogError
from pipeline import configs, settings


class KfpError(CatdogError):
    """A cluster that did not take the run, or a package it cannot take."""


@dataclasses.dataclass
class StartedRun:
    run_id: str
    url: str


@dataclasses.dataclass(frozen=True)
class DeploySettings(settings_core.Checked):
    """Where `catdog kfp deploy` starts its run."""

    GROUP = "Kubeflow deploy"

    host: str = settings_core.setting("", "KFP API endpoint, e.g. http://localhost:8080", required=True)
    experiment: str = settings_core.setting(configs.KFP_EXPERIMENT, "experiment the run belongs to")
    run_name: str = settings_core.setting("", "the run's name (default: pipeline name and time)")
    package: str = settings_core.setting("", "a compiled YAML package (default: compile one from the options below)")

    def __post_init__(self):
        super().__post_init__()
        if urlparse(self.host).scheme not in ("http", "https"):
            raise KfpError(f"--host {self.host}: give the endpoint's URL, e.g. http://localhost:8080")
        if self.package and not self.package.endswith(settings.PACKAGE_SUFFIXES[settings.YAML]):
            raise KfpError(f"--package {self.package}: Kubeflow Pipelines takes the YAML package (catdog kfp compile)")
        if self.package:
            try:
                files.check_regular(self.package)
            except files.FileRefused as e:
                raise KfpError(f"--package {self.package}: {e.reason}") from e


def add_parser(sub) -> None:
    kfp = sub.add_parser("kfp", help="compile the pipeline for Kubeflow Pipelines and start runs there")
    kfp_sub = kfp.add_subparsers(dest="kfp_command", required=True)

    settings_core.add_command(
        kfp_sub,
        "compile",
        "write the pipeline package (KFP v2 YAML, or a Vertex AI PipelineJob)",
        settings.KubeflowSettings,
        _compile,
    )
    deploy = settings_core.add_command(
        kfp_sub, "deploy", "upload the pipeline to Kubeflow Pipelines and start a run", DeploySettings, _deploy
    )
    settings_core.add_arguments(deploy, settings.KubeflowSettings, skip=("format",))  # kfp.Client uploads YAML

    r = kfp_sub.add_parser(
        "run-local",
        help="compile the package into --output and run it there task by task under "
        "KFP's local runner, each task's command in this project's environment",
    )
    # The package, pipeline root and serving folder are the run directory's (pipeline/kfp_local.py).
    settings_core.add_arguments(r, settings.KubeflowLocalSettings, skip=("output", "pipeline_root", "serving_dir"))
    r.set_defaults(func=_run_local)


def _compile_package(args) -> str:
    kfp_settings = settings_core.from_args(
        settings.KubeflowSettings, args, format=getattr(args, "format", settings.YAML)
    )
    from pipeline.kubeflow_runner import compile_pipeline

    return compile_pipeline(kfp_settings)


def start_run(host: str, package: str, experiment: str, run_name: str = "") -> StartedRun:
    """Uploads the package as a new version of the catdog pipeline and runs it in the experiment."""
    import logging
    import warnings

    import kfp
    import kfp_server_api
    import urllib3

    name = configs.PIPELINE_NAME
    version_name = f"{name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP 2.0.0-beta.2 and later"
            # The Client asks /healthz up to 5 times and logs each failure with its traceback: the error
            # raised at the end says it in one line.
            logging.disable(logging.ERROR)
            try:
                client = kfp.Client(host=host)
            finally:
                logging.disable(logging.NOTSET)
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline_id = client.upload_pipeline(package, pipeline_name=name).pipeline_id
            # The upload made the pipeline's first version.
            version = client.list_pipeline_versions(pipeline_id, page_size=1).pipeline_versions[0]
        else:
            version = client.upload_pipeline_version(package, version_name, pipeline_id=pipeline_id)
        experiment_id = client.create_experiment(experiment).experiment_id
        run = client.run_pipeline(
            experiment_id, run_name or version_name, pipeline_id=pipeline_id, version_id=version.pipeline_version_id
        )
    except urllib3.exceptions.HTTPError as e:
        reason = str(getattr(e, "reason", None) or e).split(">: ", 1)[-1]  # without the connection object's repr
        raise KfpError(f"cannot reach Kubeflow Pipelines at {host}: {reason}") from e
    except kfp_server_api.ApiException as e:
        body = " ".join((e.body or "").split())[:300]
        raise KfpError(f"Kubeflow Pipelines at {host} answered {e.status} {e.reason}: {body}") from e
    except (TimeoutError, ValueError) as e:  # healthz unanswered; ambiguous names
        raise KfpError(f"Kubeflow Pipelines at {host}: {e}") from e
    return StartedRun(run.run_id, f"{host.rstrip('/')}/#/runs/details/{run.run_id}")


def _compile(args) -> int:
    print(f"wrote {_compile_package(args)}")
    return 0


def _run_local(args) -> int:
    """Ends like `catdog run`: 0 pushed, NOT_PUSHED not; 1 and the failed task's log tail when a task failed."""
    local_settings = settings_core.from_args(settings.KubeflowLocalSettings, args)
    from cli.run import NOT_PUSHED
    from pipeline import kfp_local
    from pipeline.run_summary import describe, summarize_outputs

    run = kfp_local.run_local(local_settings)
    if run.failed is not None:
        print(
            f"catdog: task {run.failed.name} failed; the last lines of its log ({run.failed.log}):\n"
            f"{kfp_local.tail(run.failed.log)}",
            file=sys.stderr,
        )
        return 1
    summary = summarize_outputs(run.output)
    print(describe(summary))
    return 0 if summary.pushed else NOT_PUSHED


def _deploy(args) -> int:
    deploy = settings_core.from_args(DeploySettings, args)
    run = start_run(deploy.host, deploy.package or _compile_package(args), deploy.experiment, deploy.run_name)
    print(f"run id: {run.run_id}")
    print(f"run: {run.url}")
    return 0
