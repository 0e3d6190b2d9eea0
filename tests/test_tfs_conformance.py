"""TF Serving 2.16's behaviour, case by case (tests/tfs_cases.py names the source of each), against `catdog
serve` started as a user starts it: once on the pushed model, once with a --model_config_file of two models.

The two example-client cases (resnet_rest_client, resnet_grpc_client) make exactly the calls of TF Serving's
tensorflow_serving/example/resnet_client.py and resnet_client_grpc.py (with MODEL_ACCEPT_JPG: a JSON string
'{"instances" : [{"b64": "%s"}]}' posted with requests; tf.make_tensor_proto(data) of the file's bytes, a
scalar string, then outputs[...].float_val) with only the model, input and output names and the addresses
changed. They are written here, not copied: that code is not the project's to commit."""

import os
import shutil

import pytest
import tfs_cases
from google.protobuf import text_format
from serving_fixtures import sample_images
from tensorflow_serving.config import model_server_config_pb2

IMAGES = list(sample_images().values())[:4]
CLASS_NAMES = ["cats", "dogs"]  # the generated data's classes (tests/imagegen.py), in label order
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def base_paths(pipeline_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    first, second = root / "catdog", root / "catdog2"
    shutil.copytree(pipeline_run.latest_model, first / "1")
    second.mkdir()
    for version in (1, 2):
        os.symlink(first / "1", second / str(version))
    return root, first, second


@pytest.fixture(scope="module")
def served(base_paths):
    _, first, _ = base_paths
    with tfs_cases.catdog_serve(["--model-base-path", first, "--model-name", "catdog"], env=ENV) as (_, target, url):
        tfs_cases.wait_until_available(target, "catdog")
        s = tfs_cases.Served(target, url, "catdog", 1, IMAGES, CLASS_NAMES)
        yield s
        s.close()


@pytest.fixture(scope="module")
def config_served(base_paths):
    root, first, second = base_paths
    path = root / "models.config"
    path.write_text(tfs_cases.config_text("catdog", str(first), "catdog2", str(second)))
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    with tfs_cases.catdog_serve(["--model_config_file", path], env=ENV) as (_, target, url):
        tfs_cases.wait_until_available(target, "catdog2")
        s = tfs_cases.ConfigServed(
            target, url, "catdog", 1, IMAGES, CLASS_NAMES, second="catdog2", config_path=str(path), config=config
        )
        yield s
        s.close()


@pytest.mark.parametrize("case", [c for c in tfs_cases.CASES if c.needs == "model"], ids=lambda c: c.name)
def test_behaves_as_tf_serving(served, case):
    case.run(served)


@pytest.mark.parametrize("case", [c for c in tfs_cases.CASES if c.needs == "config"], ids=lambda c: c.name)
def test_model_config_file_behaves_as_tf_serving(config_served, case):
    case.run(config_served)
