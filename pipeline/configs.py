"""Names and fixed places. The settings a user can change, with their defaults, are in pipeline/settings.py."""

from components.contract import MODEL_NAME  # noqa: F401 - the contract names the served model

PIPELINE_NAME = "catdog"
DATA_URI = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
OUTPUT_DIR = "runs/catdog"

# Modules the components import by name: they are installed, so the same names work in the container.
PREPROCESSING_FN = "components.preprocessing.preprocessing_fn"
RUN_FN = "components.trainer.run_fn"

# Node ids of the ExampleGens and the BulkInferrer: the run's summary looks their Examples up by them.
TRAINING_EXAMPLE_GEN_ID = "ImageExampleGen"
SCORE_EXAMPLE_GEN_ID = "ScoreExampleGen"
BULK_INFERRER_ID = "BulkInferrer"

# Under a run's output directory.
PIPELINE_ROOT_SUBDIR = "artifacts"
METADATA_FILE = "metadata.sqlite"
SERVING_SUBDIR = "serving"
# The first successful run's schema, the reference later runs' data is validated against (ImportSchemaGen).
SCHEMA_SUBDIR = "schema"
SCORES_FILE = "scores.jsonl"  # BulkInferrer's scores of --score-data, one JSON line per file

# Kubeflow Pipelines (`catdog kfp`).
KFP_IMAGE = "catdog:latest"
KFP_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # the object store a KFP install comes with
KFP_PACKAGE = "catdog-pipeline.yaml"
KFP_EXPERIMENT = "catdog"
