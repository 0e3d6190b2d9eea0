"""`catdog kfp compile|deploy`: the pipeline on Kubeflow Pipelines 2 (or Vertex AI)."""

import dataclasses
import os
import sys
import time
from urllib.parse import urlparse

from pipeline import configs

# kubeflow_runner's formats, named here too so that `--help` needs no TFX import.
_SUFFIXES = {"yaml": (".yaml", ".yml"), "vertex-json": (".json",)}
# What the ingest step can fetch from inside a pod: not a path, which would name the container's files.
_DATA_SCHEMES = ("http", "https", "gs", "s3", "hdfs")


class KfpError(Exception):
    """A setting the compiled pipeline could not run with, or a cluster that did not take the run."""


@dataclasses.dataclass
class StartedRun:
    run_id: str
    url: str


def add_parser(sub) -> None:
    kfp = sub.add_parser("kfp", help="compile the pipeline for Kubeflow Pipelines and start runs there")
    kfp_sub = kfp.add_subparsers(dest="kfp_command", required=True)

    c = kfp_sub.add_parser("compile", help="write the pipeline package (KFP v2 YAML, or a Vertex AI PipelineJob)")
    c.add_argument("--format", choices=tuple(_SUFFIXES), default="yaml",
                   help="yaml: Kubeflow Pipelines 2 (kfp.Client); vertex-json: a Vertex AI PipelineJob, "
                        "whose Evaluator also compares with the latest blessed model")
    _add_compile_arguments(c)
    c.set_defaults(func=_compile)

    d = kfp_sub.add_parser("deploy", help="upload the pipeline to Kubeflow Pipelines and start a run")
    d.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    d.add_argument("--experiment", default=configs.KFP_EXPERIMENT, help="experiment the run belongs to")
    d.add_argument("--run-name", default="", help="the run's name (default: pipeline name and time)")
    d.add_argument("--package", default="",
                   help="a compiled YAML package (default: compile one from the options below)")
    _add_compile_arguments(d)
    d.set_defaults(func=_deploy, format="yaml")  # what kfp.Client uploads


def _add_compile_arguments(p) -> None:
    p.add_argument("--output", default="", help=f"package file (default: {configs.KFP_PACKAGE}, .json for vertex-json)")
    p.add_argument("--image", default=configs.KFP_IMAGE, help="container image built from the Dockerfile")
    p.add_argument("--pipeline-root", default=configs.KFP_PIPELINE_ROOT,
                   help="artifact store: gs://, s3:// or minio:// (KFP's own)")
    p.add_argument("--data", default=configs.DATA_URI,
                   help="zip of images the cluster can read: http(s)://, gs://, s3:// (runtime parameter data_uri)")
    p.add_argument("--sha256", default="", help="expected sha256 of the zip (runtime parameter data_sha256)")
    p.add_argument("--serving-dir", default="",
                   help="where the Pusher puts model versions (default: <pipeline-root>/serving/<model-name>)")
    p.add_argument("--model-name", default=configs.MODEL_NAME)
    p.add_argument("--min-accuracy", type=float, default=configs.MIN_ACCURACY,
                   help="validation accuracy a model needs to be pushed (inside runtime parameter eval_config)")
    p.add_argument("--epochs", type=int, default=None, help="(first-phase) epochs (default: the preset's)")
    p.add_argument("--backbone-weights", default="",
                   help="pretrained presets: the backbone's .h5 weights as an object-store URI the Trainer can read "
                        "(default: Keras downloads its ImageNet weights in the Trainer's pod)")
    p.add_argument("--gpus", type=int, default=configs.TRAINER_GPUS, help="GPUs for the Trainer")
    p.add_argument("--gpu-type", default=configs.TRAINER_GPU_TYPE,
                   help="on KFP the Kubernetes resource (nvidia.com/gpu); on Vertex AI a model (NVIDIA_TESLA_T4)")
    p.add_argument("--no-gpu", action="store_true", help="train on CPU")


def _check_compile_arguments(args) -> None:
    suffixes = _SUFFIXES[args.format]
    if args.output and not args.output.endswith(suffixes):
        raise KfpError(f"--output {args.output}: a {args.format} package ends with {' or '.join(suffixes)}")
    if urlparse(args.data).scheme not in _DATA_SCHEMES:
        raise KfpError(f"--data {args.data}: give a URL the cluster can read ({', '.join(_DATA_SCHEMES)})")
    if "://" not in args.pipeline_root:
        raise KfpError(f"--pipeline-root {args.pipeline_root}: give an object-store URI (gs://, s3://, minio://)")
    serving_dir = args.serving_dir or args.pipeline_root
    if serving_dir.startswith("minio://"):
        # The Pusher writes through TensorFlow's file systems, which know no minio://; KFP's launcher
        # copies artifacts for the tasks, not the serving folder.
        raise KfpError(f"the Pusher cannot write to {serving_dir}: give --serving-dir gs://... "
                       "(or s3://... with tensorflow-io in the image)")
    if args.gpus < 0 or (args.epochs is not None and args.epochs < 1) or not 0 <= args.min_accuracy <= 1:
        raise KfpError("--gpus must be 0 or more, --epochs 1 or more, --min-accuracy between 0 and 1")


def _compile_package(args) -> str:
    _check_compile_arguments(args)
    from components.trainer import TrainConfig
    from pipeline.kubeflow_runner import KubeflowSettings, compile_pipeline

    default_output = os.path.splitext(configs.KFP_PACKAGE)[0] + _SUFFIXES[args.format][0]
    return compile_pipeline(
        KubeflowSettings(
            output=args.output or default_output,
            format=args.format,
            image=args.image,
            pipeline_root=args.pipeline_root,
            data_uri=args.data,
            data_sha256=args.sha256,
            serving_dir=args.serving_dir,
            model_name=args.model_name,
            min_accuracy=args.min_accuracy,
            train_config=dataclasses.asdict(TrainConfig(epochs=args.epochs, backbone_weights=args.backbone_weights)),
            gpus=0 if args.no_gpu else args.gpus,
            gpu_type=args.gpu_type,
        )
    )


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
    try:
        path = _compile_package(args)
    except KfpError as e:
        return _fail(e)
    print(f"wrote {path}")
    return 0


def _deploy(args) -> int:
    try:
        if urlparse(args.host).scheme not in ("http", "https"):
            raise KfpError(f"--host {args.host}: give the endpoint's URL, e.g. http://localhost:8080")
        if args.package and not args.package.endswith(_SUFFIXES["yaml"]):
            raise KfpError(f"--package {args.package}: Kubeflow Pipelines takes the YAML package (catdog kfp compile)")
        if args.package and not os.path.isfile(args.package):
            raise KfpError(f"--package {args.package}: no such file")
        run = start_run(args.host, args.package or _compile_package(args), args.experiment, args.run_name)
    except KfpError as e:
        return _fail(e)
    print(f"run id: {run.run_id}")
    print(f"run: {run.url}")
    return 0


def _fail(error: KfpError) -> int:
    print(f"catdog: error: {error}", file=sys.stderr)
    return 2
