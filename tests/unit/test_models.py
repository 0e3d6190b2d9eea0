"""Model presets and the Trainer's options."""

import numpy as np
import pytest
import tf_keras as keras

from components import models, settings_core, trainer, training_settings


def test_command_line_offers_the_presets_and_schedules_the_trainer_builds():
    # The command line names them without importing TensorFlow.
    assert (
        set(models.PRESETS) == set(training_settings.MODEL_PRESETS)
        and training_settings.DEFAULT_PRESET in models.PRESETS
    )
    for schedule in training_settings.LR_SCHEDULES:
        trainer.learning_rate(0.01, schedule, epochs=2, steps_per_epoch=10)
    assert {preset.recipe.lr_schedule for preset in models.PRESETS.values()} <= set(training_settings.LR_SCHEDULES)


def test_tutorial_preset_is_the_tutorials_architecture():
    model = models.build("tutorial", (150, 150, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 4
    assert model.output_shape == (None, 1) and model.count_params() == 3_472_449


@pytest.mark.parametrize("preset", ["augmented", "residual"])
def test_augmentation_acts_in_training_only(preset):
    model = models.build(preset, (64, 64, 3))
    x = np.random.default_rng(0).random((4, 64, 64, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False).numpy(), model(x, training=False).numpy())
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=True).numpy())


def test_unknown_preset_and_schedule_are_refused():
    with pytest.raises(ValueError, match="unknown model preset 'vgg'"):
        models.build("vgg", (32, 32, 3))
    with pytest.raises(settings_core.SettingsError, match="--lr-schedule step: choose from constant, cosine"):
        trainer.TrainConfig(lr_schedule="step")


def test_cosine_schedule_decays_to_zero_over_all_epochs():
    schedule = trainer.learning_rate(0.01, "cosine", 3, 10)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(30)) == pytest.approx(0.0, abs=1e-9)


def test_config_from_custom_config_casts_and_ignores_unknown_keys():
    config = trainer.TrainConfig.from_custom_config(
        {"epochs": "3", "learning_rate": 1, "fine_tune_epochs": None, "other": "x"}
    )
    assert config.epochs == 3 and isinstance(config.learning_rate, float) and config.batch_size == 20
    assert config.fine_tune_epochs is None  # the preset's recipe decides


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_learning_rate_grows_with_the_replicas_that_multiply_the_global_batch(replicas):
    # MirroredStrategy: batch_size images on each of N replicas, N times fewer steps an epoch.
    assert trainer.scaled_learning_rate(0.001, replicas) == pytest.approx(0.001 * replicas)
    schedule = trainer.learning_rate(0.001, "cosine", 2, steps_per_epoch=10, replicas=replicas)
    assert float(schedule(0)) == pytest.approx(0.001 * replicas)
    assert trainer.learning_rate(0.001, "constant", 2, 10, replicas) == pytest.approx(0.001 * replicas)


def test_deterministic_turns_on_op_determinism():
    from tensorflow.python.framework import config as tf_config

    trainer.seed_and_determinism(trainer.TrainConfig(deterministic=False))
    assert not tf_config.is_op_determinism_enabled()
    try:
        trainer.seed_and_determinism(trainer.TrainConfig(deterministic=True))
        assert tf_config.is_op_determinism_enabled()
    finally:
        tf_config.disable_op_determinism()  # the rest of the session runs as usual


def test_config_from_custom_config_keeps_the_new_settings():
    config = trainer.TrainConfig.from_custom_config({"deterministic": True, "backbone_weights": "gs://w.h5"})
    assert config.deterministic is True and config.backbone_weights == "gs://w.h5"


def test_the_ood_fit_flags_what_lies_away_from_both_training_clusters():
    from components import ood

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (2, 32))

    def clusters(per_class):
        return np.concatenate([c + rng.normal(0, 1, (per_class, 32)) for c in centers]), np.repeat([0, 1], per_class)

    features, labels = clusters(1000)
    fit = ood.fit("pool", features, labels, class_count=2)
    assert np.mean(ood.scores(fit, features) <= fit.threshold) >= ood.IN_DISTRIBUTION_SHARE  # in-sample: shorter
    fresh, _ = clusters(2000)  # new draws of the training distribution: about 1% flagged (out-of-fold threshold)
    assert 0.002 < np.mean(ood.scores(fit, fresh) > fit.threshold) < 0.025
    noise = rng.uniform(-8, 8, (500, 32))  # neither cluster
    midway = np.repeat(centers.mean(axis=0, keepdims=True), 10, axis=0)  # between the clusters, far from both
    assert np.all(ood.scores(fit, noise) > fit.threshold) and np.all(ood.scores(fit, midway) > fit.threshold)
    with pytest.raises(ValueError, match="class \\[1\\]"):
        ood.fit("pool", features[labels == 0], labels[labels == 0], class_count=2)
