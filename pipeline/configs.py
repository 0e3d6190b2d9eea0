"""Names and defaults: the one place runners and the command line take them from."""

PIPELINE_NAME = "catdog"
MODEL_NAME = "catdog"
DATA_URI = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
OUTPUT_DIR = "runs/catdog"

IMAGE_SIZE = 150
EVAL_PERCENT = 20  # for zips without train/ and validation/ folders
# Epochs, learning rates and schedules are each model preset's own measured recipe (components/models.py).
BATCH_SIZE = 20
SEED = 42
MIN_ACCURACY = 0.70

# Modules the components import by name: they are installed, so the same names work in the container.
PREPROCESSING_FN = "components.preprocessing.preprocessing_fn"
RUN_FN = "components.trainer.run_fn"

# Under a run's output directory.
PIPELINE_ROOT_SUBDIR = "artifacts"
METADATA_FILE = "metadata.sqlite"
SERVING_SUBDIR = "serving"

# Kubeflow Pipelines (`catdog kfp`).
KFP_IMAGE = "catdog:latest"
KFP_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # the object store a KFP install comes with
KFP_PACKAGE = "catdog-pipeline.yaml"
KFP_EXPERIMENT = "catdog"
# The Trainer's pod. On open-source KFP the GPU type is the Kubernetes resource name; Vertex AI takes
# a model name such as NVIDIA_TESLA_T4.
TRAINER_GPUS = 1
TRAINER_GPU_TYPE = "nvidia.com/gpu"
TRAINER_CPUS = 4
TRAINER_MEMORY_GB = 16
