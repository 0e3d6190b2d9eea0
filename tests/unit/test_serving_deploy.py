"""The TF Serving deployment files agree with each other and with the pipeline's names."""

from pathlib import Path

import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import configs

DEPLOY = Path(__file__).resolve().parents[2] / "serving" / "deploy"


def server_config() -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse((DEPLOY / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())


def k8s():
    documents = list(yaml.safe_load_all((DEPLOY / "k8s.yaml").read_text()))
    return {d["kind"]: d for d in documents}


def container_and_volumes():
    pod = k8s()["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return container, {v["name"]: v for v in pod["volumes"]}


def flags(container) -> dict:
    return dict(arg[2:].split("=", 1) for arg in container["args"])


def mount_path(container, volume: str) -> str:
    return next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume)


def test_models_config_serves_the_latest_pushed_version():
    [model] = server_config().model_config_list.config
    assert model.name == configs.MODEL_NAME
    assert model.model_version_policy.latest.num_versions == 1
    container, _ = container_and_volumes()
    # The Pusher's <output>/serving/<model> is the models volume's `serving` folder.
    models_mount = next(m for m in container["volumeMounts"] if m["name"] == "models")
    assert models_mount["subPath"] == configs.SERVING_SUBDIR
    assert model.base_path == f"{models_mount['mountPath']}/{configs.MODEL_NAME}"


def test_server_flags_name_the_mounted_config_files():
    container, volumes = container_and_volumes()
    assert container["image"] == "tensorflow/serving:2.16.1"
    f = flags(container)
    config_dir = mount_path(container, "config")
    assert f["model_config_file"] == f"{config_dir}/models.config"
    assert f["batching_parameters_file"] == f"{config_dir}/batching_parameters.txt"
    assert f["monitoring_config_file"] == f"{config_dir}/monitoring.config"
    assert f["enable_batching"] == "true"
    assert int(f["file_system_poll_wait_seconds"]) > 0
    assert (f["port"], f["rest_api_port"]) == ("8500", "8501")
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    [generated] = kustomization["configMapGenerator"]
    assert volumes["config"]["configMap"]["name"] == generated["name"]
    assert sorted(generated["files"]) == ["batching_parameters.txt", "models.config", "monitoring.config"]
    assert all((DEPLOY / name).is_file() for name in generated["files"] + kustomization["resources"])


def test_models_volume_is_the_claim_and_the_service_exposes_both_apis():
    documents = k8s()
    container, volumes = container_and_volumes()
    claim = documents["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    service = documents["Service"]["spec"]
    assert service["selector"] == documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["ports"]} == {
        "grpc": (8500, "grpc"),
        "http": (8501, "http"),
    }


def test_batching_parameters_are_set_and_positive():
    values = {}
    for line in (DEPLOY / "batching_parameters.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, value = line.split("{")
            values[name.strip()] = int(value.replace("value:", "").replace("}", ""))
    assert set(values) == {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    assert all(v > 0 for v in values.values())
    # One batch thread per CPU the container may use.
    container, _ = container_and_volumes()
    assert values["num_batch_threads"] == int(container["resources"]["limits"]["cpu"])


def test_probes_and_scraping_use_the_rest_endpoints_catdog_serve_has_too():
    from serving.server.metrics import METRICS_PATH

    container, _ = container_and_volumes()
    config = (DEPLOY / "monitoring.config").read_text()
    assert "enable: true" in config and f'path: "{METRICS_PATH}"' in config
    annotations = k8s()["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/path"], annotations["prometheus.io/port"]) == (METRICS_PATH, "8501")
    assert container["livenessProbe"]["httpGet"] == {"path": METRICS_PATH, "port": "http"}
    # Ready only with a version AVAILABLE (loaded and warmed): metadata is 404 until then.
    assert container["readinessProbe"]["httpGet"] == {
        "path": f"/v1/models/{configs.MODEL_NAME}/metadata",
        "port": "http",
    }
