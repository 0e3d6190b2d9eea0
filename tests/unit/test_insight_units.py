"""The report pieces on their own: Grad-CAM's arithmetic, the data tables, and errors that name the file."""

import json
import zipfile

import imagegen
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from PIL import Image

from components import models
from insight import data_samples, feature_maps, figures, gradcam, image_grid, saved_model
from insight.errors import InsightError
from insight.images import decode_rgb
from insight.json_files import read_json_object


def _evidence_model() -> keras.Model:
    """One 1x1 identity convolution, then a sum: the logit is the image's total brightness."""
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, activation="relu", kernel_initializer="ones")(inputs)
    flat = keras.layers.Flatten()(conv)
    output = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(flat)
    return keras.Model(inputs, output)


def test_gradcam_heats_the_evidence_for_the_predicted_class_only():
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 2, 5, 0] = 1.0  # the only bright pixel: all the evidence for class 1
    model = _evidence_model()
    cam = gradcam.class_activation_map(model, tf.constant(image), class_id=1)
    assert cam.shape == (8, 8)
    assert np.unravel_index(cam.argmax(), cam.shape) == (2, 5) and cam.max() == 1.0
    assert cam.sum() == 1.0  # nothing else is heated
    # Brightness is evidence against class 0: nothing speaks for it.
    assert gradcam.class_activation_map(model, tf.constant(image), class_id=0).max() == 0.0


def test_gradcam_overlay_keeps_the_photo_size_and_marks_the_hot_spot():
    photo = np.full((90, 173, 3), 128, np.uint8)
    cam = np.zeros((4, 4))
    cam[0, 0] = 1.0
    overlay = np.asarray(gradcam.overlay(photo, cam))
    assert overlay.shape == photo.shape
    # jet: hot is red, cold is blue.
    assert overlay[0, 0, 0] > overlay[0, 0, 2] and overlay[-1, -1, 2] > overlay[-1, -1, 0]


def test_feature_map_display_handles_a_dead_channel():
    shown = feature_maps._for_display(np.zeros((5, 5)))
    assert np.all(shown == 128)


def test_count_rows_have_per_class_and_total_columns():
    # The ingest report's JSON keeps its keys sorted: eval before train.
    rows = data_samples.count_rows(["cats", "dogs"], {"eval": {"cats": 1, "dogs": 0}, "train": {"cats": 3, "dogs": 4}})
    assert rows == [
        ["split", "cats", "dogs", "total"],
        ["train", "3", "4", "7"],
        ["eval", "1", "0", "1"],
        ["total", "4", "4", "8"],
    ]
    assert data_samples.format_table(rows).splitlines()[1].split() == ["train", "3", "4", "7"]


def test_sample_grid_skips_undecodable_images_and_names_them(tmp_path):
    good = {f"c{label}-{i}.jpg": imagegen.image_bytes(label, seed=i) for label in (0, 1) for i in range(2)}
    records = [(0, "broken.jpg", lambda: b"not an image")] + [
        (int(name[1]), name, lambda data=data: data) for name, data in good.items()
    ]
    path = tmp_path / "grid.png"
    unreadable = data_samples.save_sample_grid(records, ["cats", "dogs"], str(path), per_class=2)
    assert [file for file, _ in unreadable] == ["broken.jpg"]
    assert Image.open(path).size == image_grid.pixel_size(4, 2)


def test_sample_grid_reads_only_what_it_shows(tmp_path):
    reads = []

    def reader(label, i):
        reads.append((label, i))
        return imagegen.image_bytes(label, seed=i)

    records = [
        (label, f"{label}-{i}.jpg", lambda label=label, i=i: reader(label, i)) for label in (0, 1) for i in range(50)
    ]
    data_samples.save_sample_grid(records, ["cats", "dogs"], str(tmp_path / "grid.png"), per_class=3)
    assert len(reads) == 6


def test_undecodable_image_error_names_the_file():
    with pytest.raises(InsightError, match=r"^photo\.jpg: not an image file"):
        decode_rgb(b"plain text", "photo.jpg")


def test_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "history.json"
    bad.write_text("{not json")
    with pytest.raises(InsightError, match=f"^{bad}: not valid JSON"):
        read_json_object(str(bad))
    bad.write_text(json.dumps({"history": {}}))
    with pytest.raises(InsightError, match=f"^{bad}: missing config"):
        read_json_object(str(bad), ["history", "config"])
    with pytest.raises(InsightError, match="no such file"):
        read_json_object(str(tmp_path / "absent.json"))


def test_model_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(InsightError, match=f"^{tmp_path}: no saved_model.pb and no numbered"):
        saved_model.resolve(str(tmp_path))
    with pytest.raises(InsightError, match="no such model folder"):
        saved_model.resolve(str(tmp_path / "absent"))


def test_newest_numbered_version_is_chosen(tmp_path):
    for version in ("9", "10", "draft"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
    assert saved_model.resolve(str(tmp_path)) == str(tmp_path / "10")


def test_inspect_data_rejects_a_one_class_zip(tmp_path):
    from components.ingest.errors import DatasetError

    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cats/a.jpg", imagegen.image_bytes(0))
    with pytest.raises(DatasetError, match=f"^{path}: expected exactly 2 class folders"):
        data_samples.inspect_data(str(path), str(tmp_path / "out"), 20)


@pytest.mark.parametrize("preset", sorted(models.PRESETS))
def test_feature_maps_and_gradcam_work_on_every_model_preset(preset):
    model = models.build(preset, (64, 64, 3))
    image = tf.random.uniform((1, 64, 64, 3), seed=1)
    maps = feature_maps.activations(model, image)
    layers = feature_maps.representation_layers(model)
    assert [name for name, _ in maps] == [layer.name for layer in layers] and maps
    assert all(m.shape == tuple(layer.output_shape[1:]) for (_, m), layer in zip(maps, layers))
    cam = gradcam.class_activation_map(model, image, class_id=1)
    conv_shape = gradcam.last_conv_layer(model).output_shape
    assert cam.shape == tuple(conv_shape[1:3]) and np.isfinite(cam).all() and 0 <= cam.min() <= cam.max() <= 1


def test_residual_preset_shows_its_separable_convolutions_and_maps_the_last_block_sum():
    model = models.build("residual", (64, 64, 3))
    layers = feature_maps.representation_layers(model)
    assert sum(isinstance(layer, keras.layers.SeparableConv2D) for layer in layers) == 10
    # The layer Grad-CAM maps is the one global pooling reads, not the last block's 1x1 shortcut.
    pooled = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    assert gradcam.last_conv_layer(model).output is pooled.input


@pytest.mark.parametrize("preset", ["residual", "mobilenet"])
def test_feature_maps_and_gradcam_see_the_image_not_an_augmented_copy(preset):
    # A Keras model called without training=False runs its random augmentation layers.
    model = models.build(preset, (64, 64, 3))
    image = tf.random.uniform((1, 64, 64, 3), seed=2)
    first, again = (feature_maps.activations(model, image) for _ in range(2))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))
    cams = [gradcam.class_activation_map(model, image, class_id=1) for _ in range(2)]
    np.testing.assert_array_equal(*cams)


def test_report_settings_show_the_recipe_where_a_flag_was_left_out():
    from insight.run_report import _effective_settings

    record = {
        "config": {"epochs": None, "learning_rate": 0.01, "seed": 42},
        "recipe": {"epochs": 5, "learning_rate": 0.01},
    }
    assert _effective_settings(record) == [
        ["epochs", "5 (the preset's recipe)"],
        ["learning_rate", "0.01"],
        ["seed", "42"],
    ]


@pytest.mark.parametrize(
    "uri, form",
    [
        ("/data/pets.zip", "zip"),
        ("https://host/pets.zip", "zip"),
        ("/data/pets", "folder"),
        ("file:///data/pets/", "folder"),
        ("gs://bucket/pets/", "prefix"),
    ],
)
def test_report_names_the_form_of_the_data(uri, form):
    from insight.run_report import _data_form

    assert _data_form(uri) == form


def test_captioned_gradcam_has_the_figure_size(tmp_path):
    photo = np.zeros((40, 60, 3), np.uint8)
    cam = np.linspace(0, 1, 16).reshape(4, 4)
    path = gradcam.save_captioned(
        photo, cam, "cat.jpg\npredicted cats, probability 0.9000", "cats", str(tmp_path / "g.png")
    )
    assert Image.open(path).size == figures.pixel_size(*gradcam.FIGURE_INCHES)
