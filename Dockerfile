# The image every Kubeflow Pipelines / Vertex AI task runs: TFX 1.16 with this project installed.
# Build from the repository root: docker build -t IMAGE . && docker push IMAGE
# Beam's SDK harness (its version and Python those of requirements-runtime.lock and the TFX image): with
# its boot entry point this same image is the worker container of Dataflow or Flink
# (--beam-arg=--sdk_container_image=IMAGE), so the workers run the project's DoFns with the locked versions.
FROM apache/beam_python3.10_sdk:2.59.0 AS beam_sdk

FROM tensorflow/tfx:1.16.0

WORKDIR /opt/catdog

# The locked runtime dependencies first (no test tools), in their own layer: code changes do not
# reinstall them.
COPY requirements-runtime.lock ./
RUN python -m pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --system --no-cache -r requirements-runtime.lock

COPY . ./
# Installed, not imported from the work tree: the pipeline names its module files as installed modules
# (components.preprocessing.preprocessing_fn, components.trainer.run_fn).
RUN python -m pip install --no-cache-dir --no-deps . \
    && python -c "import pipeline.kfp_entrypoint, components.trainer, components.preprocessing"

COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
# Beam workers use the installed environment instead of making a new one at start.
ENV RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1
# The models are Keras 2 (tf_keras). TFT sets this when it is imported, but a Beam worker can load a model before
# anything imports TFT (the Evaluator's TFMA combiners), and would then take Keras 3, which cannot read them.
ENV TF_USE_LEGACY_KERAS=1
# Kubeflow tasks give their own command (python -m pipeline.kfp_entrypoint); the entry point is for Beam workers.
ENTRYPOINT ["/opt/apache/beam/boot"]
