"""`catdog score`: every image of a zip or a folder through the pipeline's model on Beam, answers equal
to the SavedModel's, a file that does not decode listed with its reason while the others are scored."""

import json
import zipfile

import imagegen
import pytest
from conftest import run_catdog
from serving_fixtures import reference_predictions

from components.errors import CatdogError
from scoring.batch import list_images, score

NOT_AN_IMAGE = b"these are notes, not a picture"


@pytest.fixture(scope="module")
def images():
    """Seven images of both kinds and sizes (more than one batch's worth would be slow; the batch
    size is capped, not fixed) and one file that does not decode, in a sub-folder."""
    named = {
        f"new/img{i}.{'png' if i % 3 == 0 else 'jpg'}": imagegen.image_bytes(
            i % 2, (90 + 20 * i, 120), "png" if i % 3 == 0 else "jpg", seed=300 + i
        )
        for i in range(7)
    }
    named["new/sub/notes.jpg"] = NOT_AN_IMAGE
    return named


def expected_rows(model_dir, images):
    good = {name: data for name, data in images.items() if data != NOT_AN_IMAGE}
    return dict(zip(good, reference_predictions(model_dir, list(good.values()))))


def assert_scored(rows, expected, name_of):
    by_file = {name_of(row["file"]): row for row in rows}
    assert set(by_file) == set(expected) | {"new/sub/notes.jpg"}
    assert "image file format" in by_file["new/sub/notes.jpg"]["error"]
    for name, reference in expected.items():
        assert by_file[name]["class_name"] == reference["class_name"]
        assert by_file[name]["probability"] == pytest.approx(reference["probability"], abs=1e-6)


def test_scores_a_folder_and_lists_the_undecodable_file(pipeline_run, images, tmp_path):
    folder = tmp_path / "data"
    for name, data in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"\0")  # litter is not scored
    output = tmp_path / "predictions.jsonl"
    counts = score(str(folder), str(pipeline_run.latest_model), str(output), "serving_default")
    assert counts == (7, 1)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert_scored(rows, expected_rows(pipeline_run.latest_model, images), lambda path: path[len(str(folder)) + 1 :])


def test_catdog_score_on_a_zip(pipeline_run, images, tmp_path):
    data = tmp_path / "new.zip"
    with zipfile.ZipFile(data, "w") as zf:
        for name, content in images.items():
            zf.writestr(name, content)
        zf.writestr("__MACOSX/new/._img0.jpg", b"\0")
    output = tmp_path / "out.jsonl"
    result = run_catdog("score", data, "--model", pipeline_run.serving_dir, "--output", output)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"scored 7 images with {pipeline_run.latest_model}, 1 files could not be" in result.stdout
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert_scored(rows, expected_rows(pipeline_run.latest_model, images), lambda member: member)


def test_data_that_is_not_there_is_one_clear_error(tmp_path):
    with pytest.raises(CatdogError, match="no such zip, folder or object-store prefix"):
        list_images(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatdogError, match="holds no files"):
        list_images(str(tmp_path / "empty"))
