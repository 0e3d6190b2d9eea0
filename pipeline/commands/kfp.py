"""`catdog kfp compile|deploy|run-local`: the pipeline on Kubeflow Pipelines 2 (or Vertex AI), or the compiled
package run on this machine by KFP's local runner."""

import dataclasses
import os
import time
from urllib.parse import urlparse

from components.errors import CatdogError
from pipeline import configs, settings


class KfpError(CatdogError):
    """A cluster that did not take the run, or a package it cannot take."""


@dataclasses.dataclass
class StartedRun:
    run_id: str
    url: str


def add_parser(sub) -> None:
    kfp = sub.add_parser("kfp", help="compile the pipeline for Kubeflow Pipelines and start runs there")
    kfp_sub = kfp.add_subparsers(dest="kfp_command", required=True)

    c = kfp_sub.add_parser("compile", help="write the pipeline package (KFP v2 YAML, or a Vertex AI PipelineJob)")
    settings.add_arguments(c, settings.KubeflowSettings)
    c.set_defaults(func=_compile)

    d = kfp_sub.add_parser("deploy", help="upload the pipeline to Kubeflow Pipelines and start a run")
    d.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    d.add_argument("--experiment", default=configs.KFP_EXPERIMENT, help="experiment the run belongs to")
    d.add_argument("--run-name", default="", help="the run's name (default: pipeline name and time)")
    d.add_argument("--package", default="",
                   help="a compiled YAML package (default: compile one from the options below)")
    settings.add_arguments(d, settings.KubeflowSettings, skip=("format",))  # kfp.Client uploads YAML
    d.set_defaults(func=_deploy)

    r = kfp_sub.add_parser("run-local", help="compile the package into --output and run it there task by task under "
                                             "KFP's local runner, each task's command in this project's environment")
    # The package, pipeline root and serving folder are the run directory's (pipeline/kfp_local.py).
    settings.add_arguments(r, settings.KubeflowLocalSettings, skip=("output", "pipeline_root", "serving_dir"))
    r.set_defaults(func=_run_local)


def _compile_package(args) -> str:
    kfp_settings = settings.from_args(settings.KubeflowSettings, args, format=getattr(args, "format", settings.YAML))
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
        run = client.run_pipeline(experiment_id, run_name or version_name,
                                  pipeline_id=pipeline_id, version_id=version.pipeline_version_id)
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
    local_settings = settings.from_args(settings.KubeflowLocalSettings, args)
    from pipeline import kfp_local

    return kfp_local.main(local_settings)


def _deploy(args) -> int:
    if urlparse(args.host).scheme not in ("http", "https"):
        raise KfpError(f"--host {args.host}: give the endpoint's URL, e.g. http://localhost:8080")
    if args.package and not args.package.endswith(settings.PACKAGE_SUFFIXES[settings.YAML]):
        raise KfpError(f"--package {args.package}: Kubeflow Pipelines takes the YAML package (catdog kfp compile)")
    if args.package and not os.path.isfile(args.package):
        raise KfpError(f"--package {args.package}: no such file")
    run = start_run(args.host, args.package or _compile_package(args), args.experiment, args.run_name)
    print(f"run id: {run.run_id}")
    print(f"run: {run.url}")
    return 0
