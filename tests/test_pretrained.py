"""The pretrained preset: its weights, its two training phases, its input mapping, and a float32 export."""

import dataclasses

import h5py
import imagegen
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from conftest import run_catdog

from components import activation_cache, contract, exporter, models, ood, trainer
from insight import gradcam, saved_model

SHAPE = (150, 150, 3)


@pytest.fixture(scope="module")
def mobilenet(backbone_weights):
    return models.build("mobilenet", SHAPE, str(backbone_weights))


@pytest.mark.parametrize(
    "layer, weight",
    [
        ("conv1", "kernel:0"),
        ("conv_dw_7", "depthwise_kernel:0"),
        ("conv_pw_13", "kernel:0"),
        ("conv_pw_13_bn", "moving_mean:0"),
    ],
)
def test_backbone_holds_exactly_the_weights_of_the_file(mobilenet, backbone_weights, layer, weight):
    with h5py.File(backbone_weights) as f:
        expected = np.asarray(f[layer][layer][weight])
    found = next(w for w in mobilenet.get_layer(layer).weights if w.name.endswith(f"{layer}/{weight}"))
    np.testing.assert_array_equal(found.numpy(), expected)


def _trainable(model):
    return {w.name.split("/")[0] for w in model.trainable_weights}


def test_phase_one_trains_the_head_and_phase_two_the_top_blocks_without_batch_norm(backbone_weights):
    model = models.build("mobilenet", SHAPE, str(backbone_weights))
    assert _trainable(model) == {"probability"}
    assert sum(np.prod(w.shape) for w in model.trainable_weights) == 1024 + 1

    models.preset("mobilenet").unfreeze_top(model)
    assert _trainable(model) == {"conv_dw_12", "conv_pw_12", "conv_dw_13", "conv_pw_13", "probability"}
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms) == 27 and not any(layer.trainable for layer in batch_norms)


# Rates at which one step on 8 random images keeps the loss where it is smooth: at the recipe's fine-tuning rate
# (1e-4) one step triples the validation loss, and the float16 rounding is amplified with it.
ONE_STEP_CONFIG = trainer.TrainConfig(
    model_preset="mobilenet",
    epochs=1,
    fine_tune_epochs=1,
    batch_size=8,
    learning_rate=1e-3,
    fine_tune_learning_rate=1e-5,
)


def _train_both_phases(model, inputs):
    """The Trainer's own fit over its two phases, one step each (the batch holds every example)."""
    return trainer.fit(model, models.preset("mobilenet"), ONE_STEP_CONFIG, inputs, steps_per_epoch=1, callbacks=[])


def test_training_on_cached_activations_gives_the_model_training_on_images_gives(backbone_weights):
    """Same initial weights, no augmentation, no dropout (its masks are random): one step of each phase on the
    images through the whole network, and on the frozen part's activations computed once, end on the same
    weights, within what float16 storage of the activations moves them."""
    preset = models.preset("mobilenet")
    rng = np.random.default_rng(3)
    images = rng.random((8, *SHAPE), dtype=np.float32)
    labels = np.array([0, 1] * 4, np.float32)
    direct = models.mobilenet(SHAPE, str(backbone_weights), augment=False, dropout=0.0)
    cached = models.mobilenet(SHAPE, str(backbone_weights), augment=False, dropout=0.0)
    cached.set_weights(direct.get_weights())

    initial = {layer: direct.get_layer(layer).get_weights()[0] for layer in ("probability", "conv_pw_13", "conv_dw_12")}
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    direct_record = _train_both_phases(direct, trainer.images_in_every_phase(direct, batches, batches))
    frozen = keras.Model(cached.input, cached.get_layer(preset.frozen_through).output)
    activations = activation_cache.compute(frozen, batches, 8, copies=1)
    assert activations[0].shape == (8, 1, 14, 14, 512) and activations[0].dtype == np.float16
    cached_record = _train_both_phases(
        cached, trainer.CachedActivations(cached, preset, activations, activations, batch_size=8, seed=1)
    )

    # Adam divides each gradient by its own size: a weight whose gradient is near zero (a channel the 8 images
    # barely use) takes a step that the float16 rounding can change by up to a whole step. So all but a few weights
    # agree to 1e-4, none by more than Adam's steps, and the losses of both phases agree.
    steps_bound = 2 * (ONE_STEP_CONFIG.learning_rate + ONE_STEP_CONFIG.fine_tune_learning_rate)
    for layer, start in initial.items():
        trained = direct.get_layer(layer).get_weights()
        assert not np.allclose(trained[0], start)  # both phases took their step
        for weights, also in zip(trained, cached.get_layer(layer).get_weights()):
            assert np.isclose(also, weights, atol=1e-4).mean() >= 0.99, layer
            np.testing.assert_allclose(also, weights, atol=steps_bound, err_msg=layer)
    np.testing.assert_allclose(cached_record["history"]["loss"], direct_record["history"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(cached_record["history"]["val_loss"], direct_record["history"]["val_loss"], rtol=1e-3)


@pytest.mark.parametrize("share, fits", [(0.5, True), (0.1, False)])
def test_activations_are_cached_when_they_fit_the_share_of_memory(share, fits):
    # 2,000 training images (two copies) + 1,000 eval of 14x14x512 float16 activations: 1.0 GB; 4 GB of memory.
    plan = activation_cache.plan("conv_pw_11_relu", (14, 14, 512), 2000, 1000, share, memory_bytes=4 * 10**9)
    assert plan.total_bytes == 5000 * 14 * 14 * 512 * 2 and plan.fits is fits
    assert ("fit the budget" if fits else "exceed the budget") in plan.reason()


def test_images_in_0_1_reach_the_backbone_in_minus_1_1_at_its_input_size(mobilenet):
    probe = keras.Model(mobilenet.inputs, mobilenet.get_layer("backbone_scale").output)
    ramp = np.linspace(0, 1, SHAPE[1], dtype=np.float32)
    image = np.broadcast_to(ramp[None, None, :, None], (1, *SHAPE))
    scaled = probe(image, training=False).numpy()
    assert scaled.shape == (1, models.MOBILENET_INPUT_SIZE, models.MOBILENET_INPUT_SIZE, 3)
    assert scaled.min() == pytest.approx(-1, abs=1e-3) and scaled.max() == pytest.approx(1, abs=1e-3)
    assert scaled[0, 0, models.MOBILENET_INPUT_SIZE // 2, 0] == pytest.approx(0, abs=0.02)


def test_recipe_comes_from_the_preset_unless_given():
    assert trainer.TrainConfig(model_preset="mobilenet").recipe() == models.PRESETS["mobilenet"].recipe
    recipe = trainer.TrainConfig(model_preset="mobilenet", epochs=2, fine_tune_epochs=0).recipe()
    assert (recipe.epochs, recipe.fine_tune_epochs) == (2, 0)
    assert trainer.training_phases(recipe) == [(2, recipe.learning_rate)]
    assert not recipe.keep_best_epoch  # pretrained: a fixed schedule, the last epoch is what is reported


def test_keras_cache_is_used_without_a_download(tmp_path, monkeypatch, backbone_weights):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = tmp_path / "models" / models.MOBILENET_WEIGHTS_FILE
    cached.parent.mkdir()
    cached.write_bytes(backbone_weights.read_bytes())
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("downloaded although cached"))
    assert models.resolve_weights(models.PRESETS["mobilenet"].weights_origin) == str(cached)


def test_no_weights_anywhere_is_one_error_that_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(models.BackboneWeightsError) as raised:
        models.resolve_weights(models.PRESETS["mobilenet"].weights_origin)
    message = str(raised.value)
    assert str(tmp_path / "models" / models.MOBILENET_WEIGHTS_FILE) in message
    assert "--backbone-weights" in message and "no route to host" in message


def test_run_with_a_missing_weights_file_stops_before_any_work(tmp_path):
    data = imagegen.split_dataset(tmp_path / "data.zip", train_per_class=2, eval_per_class=1)
    missing = tmp_path / "nowhere" / models.MOBILENET_WEIGHTS_FILE
    result = run_catdog("run", "--data", data, "--output", tmp_path / "out", "--backbone-weights", missing)
    assert result.returncode == 2
    assert f"catdog: error: {missing}: backbone weights file not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "metadata.sqlite").exists()  # no component ran


def _graph_dtypes(function) -> set:
    graph = function.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return {value.type for n in nodes for key, value in n.attr.items() if key in ("T", "dtype", "DstT")}


def saved_model_transform(pipeline_run):
    """The session pipeline's Transform output (150x150, as SHAPE)."""
    import tensorflow_transform as tft

    transform_graph = next((pipeline_run.output / "artifacts" / "Transform" / "transform_graph").iterdir())
    return tft.TFTransformOutput(str(transform_graph))


def _features(model, images):
    """What the Trainer fits a preset without a frozen part on: the features the sigmoid unit reads."""
    return ood.pooled(keras.Model(model.inputs, models.features_tensor(model))(images, training=False).numpy())


def _ood_fit(model):
    """An out-of-distribution fit on 10 random images' features."""
    features = _features(model, np.random.default_rng(1).random((10, *SHAPE), dtype=np.float32))
    return ood.fit(models.features_layer(model), features, np.array([0, 1] * 5), class_count=2)


def test_every_signature_says_whether_an_image_is_like_the_training_images(pipeline_run, tmp_path):
    """The score is the fit's distance of the image's features (numpy and graph agree); the flag is the threshold's
    verdict on it; `catdog predict` prints `neither` with the score for a flagged image, nothing for the other."""
    model = models.build("tutorial", SHAPE)
    images = [imagegen.image_bytes(kind, (120, 90), seed=kind) for kind in (0, 1)]
    probe = _ood_fit(model)
    exporter.export(model, saved_model_transform(pipeline_run), ["cats", "dogs"], str(tmp_path / "probe"), probe)
    loaded = saved_model.load(str(tmp_path / "probe"))
    expected = ood.scores(probe, _features(model, saved_model.model_input(loaded, images)))
    fit = dataclasses.replace(probe, threshold=float(expected.mean()))  # the first image in, the other out or back
    exporter.export(model, saved_model_transform(pipeline_run), ["cats", "dogs"], str(tmp_path / "model"), fit)
    loaded = saved_model.load(str(tmp_path / "model"))
    examples = [contract.tf_example(image) for image in images]
    for name, value in [
        (contract.IMAGE_BYTES_SIGNATURE, images),
        (contract.TF_EXAMPLE_SIGNATURE, examples),
        (contract.SCORE_TF_EXAMPLE_SIGNATURE, examples),
    ]:
        outputs = loaded.signatures[name](tf.constant(value))
        assert outputs[contract.IN_DISTRIBUTION_OUTPUT].dtype == tf.bool, name
        np.testing.assert_allclose(outputs[contract.OOD_SCORE_OUTPUT].numpy(), expected, rtol=1e-3, err_msg=name)
        assert outputs[contract.IN_DISTRIBUTION_OUTPUT].numpy().tolist() == (expected <= fit.threshold).tolist()
    assert sorted((expected <= fit.threshold).tolist()) == [False, True]

    paths = []
    for kind, image in enumerate(images):
        paths.append(tmp_path / f"image{kind}.jpg")
        paths[-1].write_bytes(image)
    result = run_catdog("predict", "--model", tmp_path / "model", *paths)
    assert result.returncode == 0, result.stderr[-3000:]
    _, *lines = result.stdout.splitlines()  # the table's header, then a line an image
    for line, score, flag in zip(lines, expected, expected <= fit.threshold, strict=True):
        assert ("neither" in line) is not flag and (flag or line.endswith(f"\tneither (ood_score {score:.1f})")), line


def test_mixed_precision_training_exports_a_float32_model(pipeline_run, tmp_path):
    """As on a GPU: the policy is mixed_float16 while the model trains; the export computes in float32.
    (The tutorial's preset: CPUs have no float16 kernel for the others' random-contrast augmentation.)"""
    transform_output = saved_model_transform(pipeline_run)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build("tutorial", SHAPE)
        assert model.compute_dtype == "float16"
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(np.random.default_rng(0).random((4, *SHAPE), dtype=np.float32), np.array([0, 1, 0, 1]), verbose=0)
        exported = trainer.float32_copy(model, "tutorial", SHAPE)
        assert keras.mixed_precision.global_policy().name == "float32"  # reset for whatever runs next
        exporter.export(exported, transform_output, ["cats", "dogs"], str(tmp_path / "model"), _ood_fit(exported))
    finally:
        keras.mixed_precision.set_global_policy("float32")

    image = imagegen.image_bytes(1, (120, 90))
    loaded = saved_model.load(str(tmp_path / "model"))
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert all(v.dtype == tf.float32 for v in loaded.variables)
    serve = loaded.signatures[contract.IMAGE_BYTES_SIGNATURE]
    assert tf.float16 not in _graph_dtypes(serve)
    outputs = serve(**{contract.IMAGE_BYTES_INPUT: tf.constant([image])})
    assert outputs[contract.PROBABILITY_OUTPUT].dtype == tf.float32
    np.testing.assert_allclose(  # the same weights: the export answers as the trained model does
        outputs[contract.PROBABILITY_OUTPUT].numpy(),
        model(saved_model.model_input(loaded, [image])).numpy().ravel(),
        atol=5e-3,
    )
    cam = gradcam.class_activation_map(loaded, saved_model.model_input(loaded, [image]), class_id=1)
    assert np.isfinite(cam).all() and cam.max() <= 1
