# make run: set up .venv and run the pipeline; make test: set up and run the tests.
SHARED_ZIP := ../shared/datasets/cats_and_dogs_filtered.zip
DATA ?= $(if $(wildcard $(SHARED_ZIP)),$(SHARED_ZIP),https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip)
# The pretrained preset's ImageNet weights for machines without internet (elsewhere Keras downloads them).
SHARED_WEIGHTS := ../shared/weights/mobilenet_1_0_224_tf_no_top.h5
WEIGHTS ?= $(if $(wildcard $(SHARED_WEIGHTS)),--backbone-weights $(SHARED_WEIGHTS),)
ARGS ?=

.PHONY: setup run test unit lint format lock
setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/catdog run --data $(DATA) $(WEIGHTS) $(ARGS)

test: setup
	.venv/bin/python -m pytest $(ARGS)

# The fast set: no trained model, about a minute.
unit: setup
	.venv/bin/python -m pytest tests/unit $(ARGS)

# What CI checks before the tests; `make format` fixes what it can.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Re-resolve the lock files after changing dependencies in pyproject.toml: requirements.lock for
# development and CI (with the test tools), requirements-runtime.lock, the same versions without them,
# for the container image.
lock:
	uv pip compile pyproject.toml --extra test --python-version 3.10 -o requirements.lock
	uv pip compile pyproject.toml -c requirements.lock --python-version 3.10 -o requirements-runtime.lock
