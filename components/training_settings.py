"""The Trainer's settings (its custom_config): declared here, at the bottom, so the Trainer reads them without
importing the pipeline, and `catdog run` and `catdog kfp` make their flags from the same declarations."""

import dataclasses

from components import limits, settings_core

# The presets components/models.py builds, named here so that the command line needs no TensorFlow
# (tests/test_models.py checks the two agree).
MODEL_PRESETS = ("tutorial", "augmented", "residual", "mobilenet")
# Measured on the tutorial data (docs/benchmarks.md): mobilenet (ImageNet weights) 0.98 in minutes; residual,
# the best from scratch, 0.906 after 80 epochs.
DEFAULT_PRESET = "mobilenet"
LR_SCHEDULES = ("constant", "cosine")
# components/distribution.py STRATEGIES (tests/test_distribution.py checks the two agree).
DISTRIBUTION_STRATEGIES = ("auto", "default", "mirrored", "multi_worker")

PRESET_RECIPE = "the model preset's recipe"  # the default of the settings below that are None


def recipe_setting(help: str, **kwargs):
    """A setting left to the model preset's measured recipe unless given."""
    return settings_core.setting(None, help, shown_default=PRESET_RECIPE, **kwargs)


@dataclasses.dataclass(frozen=True)
class TrainingSettings(settings_core.Checked):
    """What the Trainer's run_fn reads (its custom_config; components.trainer.TrainConfig). The epochs and
    learning rates left at None come from the preset's measured recipe (components/models.py PRESETS)."""

    GROUP = "model and training"

    model_preset: str = settings_core.setting(
        DEFAULT_PRESET,
        "model preset (components/models.py); each trains by its own "
        "measured recipe unless the flags below say otherwise",
        flag="--model",
        choices=MODEL_PRESETS,
    )
    backbone_weights: str = settings_core.setting(
        "",
        "pretrained presets (mobilenet): the backbone's Keras .h5 weights, a path "
        "or object-store URI (default: Keras's ImageNet weights from its cache, "
        "~/.keras/models, else downloaded)",
    )
    epochs: int | None = recipe_setting(
        "training epochs (pretrained presets: of the first phase, the head on the frozen backbone)",
        check=settings_core.between(1, limits.MAX_EPOCHS),
    )
    learning_rate: float | None = recipe_setting(
        "Adam's initial learning rate for one replica; scaled by the number of replicas",
        check=settings_core.above_up_to(0, limits.MAX_LEARNING_RATE),
    )
    lr_schedule: str | None = recipe_setting(
        "learning rate over each phase's epochs: cosine decays it to 0", choices=LR_SCHEDULES
    )
    fine_tune_epochs: int | None = recipe_setting(
        "pretrained presets: epochs of the second phase, which also trains the backbone's top blocks (0: none)",
        check=settings_core.between(0, limits.MAX_EPOCHS),
    )
    fine_tune_learning_rate: float | None = recipe_setting(
        "pretrained presets: the second phase's initial learning rate",
        check=settings_core.above_up_to(0, limits.MAX_LEARNING_RATE),
    )
    batch_size: int = settings_core.setting(
        20, "images a step on each replica (a GPU, or the CPU)", check=settings_core.between(1, limits.MAX_BATCH_SIZE)
    )
    distribution_strategy: str = settings_core.setting(
        "auto",
        "how the Trainer spreads its steps (docs/gpu.md): auto takes TF_CONFIG's cluster (multi_worker), "
        "else every local GPU (mirrored), else one device (default); mirrored named explicitly takes every "
        "logical CPU device when there is no GPU",
        flag="--distribution",
        choices=DISTRIBUTION_STRATEGIES,
    )
    seed: int = settings_core.setting(
        42,
        "seed of weights, shuffling and augmentation",
        check=settings_core.between(0, limits.MAX_SEED, "TensorFlow's seeds are uint32"),
    )
    early_stopping_patience: int = settings_core.setting(
        0,
        "stop after N epochs without a lower validation loss and keep the best-loss weights (0: the preset's "
        "way: from scratch, every epoch and the best validation accuracy; pretrained, a fixed schedule and "
        "its last epoch)",
        check=settings_core.between(0, limits.MAX_EPOCHS),
    )
    deterministic: bool = settings_core.setting(
        False, "TensorFlow op determinism: the same run twice gives the same model (slower on GPU)"
    )
    train_cache_memory_share: float = settings_core.setting(
        0.5,
        "the Trainer keeps the decoded training and validation images in memory when they fit this share of "
        "its machine's (or container's) memory, else decodes them anew every epoch, shuffling as many encoded "
        "images as the share holds",
        check=settings_core.between(0.01, 1),
    )
