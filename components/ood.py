"""Whether an image is like the training images at all: the Mahalanobis score of its features.

A two-class model calls everything one of its classes, and its confidence says little about images of neither
(a photo of a person gets "dogs 0.91"). Lee et al., "A Simple Unified Framework for Detecting Out-of-Distribution
Samples and Adversarial Attacks" (NeurIPS 2018), score an input by the Mahalanobis distance of a layer's pooled
features to the nearest class mean under one covariance shared by the classes (tied covariance: linear
discriminant analysis's generative model of the features). Fitted on the training split only: class means and the
shared covariance (Ledoit-Wolf shrinkage: hundreds of features from a few thousand images make the sample
covariance ill-conditioned); the score is the distance (not squared).

The threshold holds IN_DISTRIBUTION_SHARE of *out-of-fold* training scores (each fifth of the training images
scored by a fit on the other four): distances to a fit are shorter on the very points that made it, so a threshold
from in-sample scores flags most new images of the training classes (bench/results/ood_fit_choice.json: 80% of
the validation images with the 1,024 pooled features, against 1.4% out of fold). The validation split, which gates
the push, plays no part.

Which layer: a pretrained preset's frozen part (MobileNet's conv_pw_11_relu, averaged over its 14x14 positions:
ImageNet's features, which no training image fitted) separates cats and dogs from other images better than the
fine-tuned features the sigmoid unit reads (ROC AUC 0.998 against 0.964, same file); presets trained from scratch
have only the latter.
"""

import dataclasses

import numpy as np
from sklearn.covariance import LedoitWolf

IN_DISTRIBUTION_SHARE = 0.99  # of the out-of-fold training scores, by construction of the threshold
FOLDS = 5
METHOD = (
    "Mahalanobis distance to the nearest class mean (Lee et al. 2018), tied covariance with Ledoit-Wolf "
    "shrinkage, threshold from out-of-fold training scores"
)


@dataclasses.dataclass(frozen=True)
class OodFit:
    """What the exported model needs to score any image: class means, the shared precision, the threshold."""

    layer: str  # the model layer whose output (averaged over positions when it has them) gives the features
    means: np.ndarray  # [classes, features]
    precision: np.ndarray  # [features, features]: the inverse of the shared covariance
    threshold: float
    in_distribution_share: float
    shrinkage: float

    def summary(self, training_scores: np.ndarray) -> dict:  # in-sample: shorter than new images' (see above)
        """For history.json and the report."""
        return {
            "method": METHOD,
            "layer": self.layer,
            "threshold": self.threshold,
            "in_distribution_share": self.in_distribution_share,
            "shrinkage": self.shrinkage,
            "features": int(self.means.shape[1]),
            "training_score_quantiles": quantiles(training_scores),
        }


def pooled(values: np.ndarray) -> np.ndarray:
    """A layer's output as features: averaged over its positions when it has any ([batch, ..., channels])."""
    return values.mean(axis=tuple(range(1, values.ndim - 1)), dtype=np.float32) if values.ndim > 2 else values


def quantiles(values: np.ndarray) -> dict:
    return {f"p{q}": float(np.percentile(values, q)) for q in (1, 50, 90, 99, 100)}


def scores(fit: OodFit, features: np.ndarray) -> np.ndarray:
    """The distance of each row of features to the nearest class mean, in the shared covariance's metric (numpy:
    the exporter computes the same in the graph)."""
    centered = features[:, None, :] - fit.means[None, :, :]  # [examples, classes, features]
    squared = np.einsum("ncd,de,nce->nc", centered, fit.precision, centered)
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def _fitted(layer: str, features: np.ndarray, labels: np.ndarray, class_count: int) -> OodFit:
    """Means and shared precision, no threshold yet."""
    missing: list[int] = [c for c in range(class_count) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no training examples of class {missing}: the class means cannot be fitted")
    means = np.stack([features[labels == c].mean(axis=0) for c in range(class_count)])
    covariance = LedoitWolf(assume_centered=True).fit(features - means[labels])
    return OodFit(
        layer, means, covariance.precision_, float("inf"), IN_DISTRIBUTION_SHARE, float(covariance.shrinkage_)
    )


def fit(layer: str, features: np.ndarray, labels: np.ndarray, class_count: int, seed: int = 0) -> OodFit:
    """features [examples, features] and integer labels of the training split, taken from layer."""
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels).astype(int)
    folds = np.random.default_rng(seed).permutation(len(labels)) % FOLDS
    out_of_fold = np.concatenate(
        [
            scores(_fitted(layer, features[folds != k], labels[folds != k], class_count), features[folds == k])
            for k in range(FOLDS)
        ]
    )
    threshold = float(np.quantile(out_of_fold, IN_DISTRIBUTION_SHARE))
    return dataclasses.replace(_fitted(layer, features, labels, class_count), threshold=threshold)
