# The image every Kubeflow Pipelines / Vertex AI task runs: TFX 1.16 with this project installed.
# Build from the repository root: docker build -t IMAGE . && docker push IMAGE
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

# The command the compiled pipeline gives every task (it replaces the base image's Beam entry point).
ENTRYPOINT ["python", "-m", "pipeline.kfp_entrypoint"]
