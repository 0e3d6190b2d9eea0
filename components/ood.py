"""Whether an image is like the training images at all: the Mahalanobis score of its features.

A two-class model calls everything one of its classes, and its confidence says little about images of neither
(a photo of a person gets "dogs 0.91"). Lee et al., "A Simple Unified Framework for Detecting Out-of-Distribution
Samples and Adversarial Attacks" (NeurIPS 2018), score an input by the Mahalanobis distance of its penultimate
features to the nearest class mean under one covariance shared by the classes (tied covariance: linear
discriminant analysis's generative model of the features). Here: the pooled features the sigmoid unit reads,
class means and the shared covariance fitted on the training split (Ledoit-Wolf shrinkage: 1,024 features from a
few thousand images make the sample covariance ill-conditioned), the score the distance (not squared), and the
threshold the score below which IN_DISTRIBUTION_SHARE of the training images fall. The validation split, which
gates the push, plays no part in the fit.
"""

import dataclasses
from typing import List

import numpy as np
from sklearn.covariance import LedoitWolf

IN_DISTRIBUTION_SHARE = 0.99  # of the training images, by construction of the threshold
METHOD = "mahalanobis (Lee et al. 2018), tied covariance with Ledoit-Wolf shrinkage, on the pooled features"


@dataclasses.dataclass(frozen=True)
class OodFit:
    """What the exported model needs to score any image: class means, the shared precision, the threshold."""

    means: np.ndarray  # [classes, features]
    precision: np.ndarray  # [features, features]: the inverse of the shared covariance
    threshold: float
    in_distribution_share: float
    shrinkage: float

    def summary(self, training_scores: np.ndarray) -> dict:
        """For history.json and the report."""
        return {
            "method": METHOD, "threshold": self.threshold, "in_distribution_share": self.in_distribution_share,
            "shrinkage": self.shrinkage, "features": int(self.means.shape[1]),
            "training_score_quantiles": quantiles(training_scores),
        }


def quantiles(values: np.ndarray) -> dict:
    return {f"p{q}": float(np.percentile(values, q)) for q in (1, 50, 90, 99, 100)}


def scores(fit: OodFit, features: np.ndarray) -> np.ndarray:
    """The distance of each row of features to the nearest class mean, in the shared covariance's metric (numpy:
    the exporter computes the same in the graph)."""
    centered = features[:, None, :] - fit.means[None, :, :]  # [examples, classes, features]
    squared = np.einsum("ncd,de,nce->nc", centered, fit.precision, centered)
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def fit(features: np.ndarray, labels: np.ndarray, class_count: int,
        in_distribution_share: float = IN_DISTRIBUTION_SHARE) -> OodFit:
    """features [examples, features] and integer labels of the training split."""
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels).astype(int)
    missing: List[int] = [c for c in range(class_count) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no training examples of class {missing}: the class means cannot be fitted")
    means = np.stack([features[labels == c].mean(axis=0) for c in range(class_count)])
    covariance = LedoitWolf(assume_centered=True).fit(features - means[labels])
    partial = OodFit(means, covariance.precision_, 0.0, in_distribution_share, float(covariance.shrinkage_))
    threshold = float(np.quantile(scores(partial, features), in_distribution_share))
    return dataclasses.replace(partial, threshold=threshold)
