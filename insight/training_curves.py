"""Loss and accuracy per epoch, training against validation, from the Trainer's history.json."""

import os
from typing import Any

from matplotlib import ticker

from components import trainer
from insight import figures
from insight.errors import InsightError
from insight.json_files import read_json_object

WIDTH_INCHES, HEIGHT_INCHES = 11.0, 4.0
_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def load_history(model_run_dir: str) -> dict[str, Any]:
    path = os.path.join(model_run_dir, trainer.HISTORY_FILE)
    record = read_json_object(path, ["history"])
    missing = [name for key, _ in _PANELS for name in (key, f"val_{key}") if name not in record["history"]]
    if missing:
        raise InsightError(f"{path}: history has no {', '.join(missing)}")
    return record


def save_training_curves(record: dict[str, Any], path: str) -> str:
    history = record["history"]
    figure = figures.new_figure(WIDTH_INCHES, HEIGHT_INCHES)
    for i, (key, title) in enumerate(_PANELS):
        axes = figure.add_subplot(1, len(_PANELS), i + 1)
        epochs = range(1, len(history[key]) + 1)
        # Markers keep a one-epoch run visible as points.
        axes.plot(epochs, history[key], "o-", label="training")
        axes.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        phase_epochs = record.get("phase_epochs", [])
        if len(phase_epochs) > 1:  # a pretrained preset: the second phase fine-tunes the backbone's top
            axes.axvline(phase_epochs[0] + 0.5, color="tab:red", linestyle="--", label="fine-tuning starts")
        if "kept_epoch" in record:
            axes.axvline(record["kept_epoch"], color="gray", linestyle=":", label="kept epoch")
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return figures.save_png(figure, path)
