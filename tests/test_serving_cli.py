"""`catdog predict` and `catdog serve` as a user runs them."""

import json
import os
import re
import select
import subprocess
import sys

import imagegen
import pytest
from conftest import run_catdog
from serving_fixtures import MODEL_NAME, reference_predictions, served_copy

SERVE_START_TIMEOUT_SECONDS = 180


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    files = []
    for name, data in [
        ("cat.jpg", imagegen.image_bytes(0, (150, 150), "jpg", seed=7)),
        ("dog.png", imagegen.image_bytes(1, (240, 160), "png", seed=8)),
    ]:
        (folder / name).write_bytes(data)
        files.append(folder / name)
    return files


@pytest.fixture(scope="module")
def expected(pipeline_run, image_files):
    return reference_predictions(pipeline_run.latest_model, [f.read_bytes() for f in image_files])


def assert_matches(results, image_files, expected):
    """results: what `catdog predict` printed (the probability of the predicted class); expected: the model's
    outputs in process (the probability of the second class)."""
    assert [r["file"] for r in results] == [str(f) for f in image_files]
    for r, e in zip(results, expected):
        assert r["class_name"] == e["class_name"]
        of_its_class = e["probability"] if e["class_id"] == 1 else 1 - e["probability"]
        assert r["probability"] == pytest.approx(of_its_class, abs=1e-6)


@pytest.mark.parametrize("folder", ["latest_model", "serving_dir"])  # a version, or the folder of versions
def test_predict_with_a_model_folder_prints_json(pipeline_run, image_files, expected, folder):
    result = run_catdog("predict", "--model", getattr(pipeline_run, folder), *image_files, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    assert_matches(rows, image_files, expected)
    for row, e in zip(rows, expected):  # both classes' probabilities, by class id
        assert row["probabilities"] == pytest.approx([1 - e["probability"], e["probability"]], abs=1e-6)


def test_predict_names_a_file_it_cannot_read(tmp_path):
    missing = tmp_path / "missing.jpg"
    result = run_catdog("predict", "--model", tmp_path, missing)
    assert result.returncode == 1
    assert f"catdog: error: {missing}: cannot read image file" in result.stderr


def test_serve_names_a_missing_model_folder(tmp_path):
    result = run_catdog("serve", "--model-base-path", tmp_path / "nowhere", "--port", "0")
    assert result.returncode == 2
    assert f"model base path {tmp_path / 'nowhere'} is not a directory" in result.stderr


@pytest.fixture(scope="module")
def served(pipeline_run, tmp_path_factory):
    """`catdog serve` in its own process on free ports; yields the gRPC HOST:PORT and the REST URL."""
    base_path = served_copy(pipeline_run.latest_model, tmp_path_factory.mktemp("cli_serve"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--model-base-path",
            str(base_path),
            "--port",
            "0",
            "--rest-port",
            "0",
            "--model-name",
            MODEL_NAME,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        # The server prints its address once the model is loaded.
        ready, _, _ = select.select([process.stdout], [], [], SERVE_START_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        assert line, "catdog serve did not start"
        yield re.search(r"on (\S+:\d+) ", line).group(1), re.search(r"(http://\S+:\d+) \(REST\)", line).group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("transport", ["--server", "--rest"])
def test_predict_against_catdog_serve_prints_file_class_probability(served, image_files, expected, transport):
    grpc_target, rest_url = served
    result = run_catdog("predict", transport, grpc_target if transport == "--server" else rest_url, *image_files)
    assert result.returncode == 0, result.stderr[-3000:]
    header, *lines = result.stdout.splitlines()
    assert header == "file\tclass\tprobability\tneither"  # the model says whether an image is neither class
    rows = [line.split("\t") for line in lines]
    # Probabilities are printed with 6 decimals, within the 1e-6 the comparison allows.
    # A last `neither (ood_score ...)` column for an image like neither class (tests/test_pretrained.py checks it).
    assert_matches(
        [{"file": f, "class_name": c, "probability": float(p)} for f, c, p, *_ in rows], image_files, expected
    )


def test_predict_names_a_file_that_is_not_an_image(served, image_files, tmp_path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a picture")
    result = run_catdog("predict", "--server", served[0], image_files[0], not_image)
    assert result.returncode == 1
    assert f"catdog: error: {not_image}: INVALID_ARGUMENT" in result.stderr
    # The good file is still classified.
    assert result.stdout.splitlines()[1].startswith(f"{image_files[0]}\t")
