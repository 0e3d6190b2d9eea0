"""The limits that keep one file or one request from taking a process down, declared once with their reasons.
Ingestion, Transform's graph (so the exported model too), the reports and the server import them from here,
and the settings check their numbers against them where they are declared."""

import math

# Images in one Predict request. TF Serving's batching default (max_batch_size) is about this size; a
# client with more splits them. The server's --max-images-per-request changes it.
MAX_IMAGES_PER_REQUEST = 64

# Pixels (width x height) of one image, read from its header before anything is decoded. 50 million
# takes the largest photos cameras make in normal use (48 MP phone sensors at full resolution, 8000x6000;
# 24-45 MP cameras) and keeps a decode and resize near 1 GB: decoding costs 3 bytes a pixel and the
# float resize 12 more. Without it a 389 KB PNG of 20000x20000 asks for 1.2 GB before any check.
MAX_IMAGE_PIXELS = 50_000_000

# The largest request or response the server takes or sends, gRPC and REST (`catdog serve --max-message-mb`):
# room for MAX_IMAGES_PER_REQUEST photos of about 1 MB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Bytes of one file read from user data: a zip member (uncompressed), a folder's file, an image or PEM file
# named on the command line; also the most a staging copy writes for one file. Twice the largest JPEG of
# MAX_IMAGE_PIXELS at high quality, and the size of the largest request: a file bigger than this is not a
# photo. Checked against the size the zip or the listing declares and again while reading, since a declared
# size can lie (and a growing file's listing is out of date).
MAX_FILE_BYTES = MAX_MESSAGE_BYTES

# Bytes of a SavedModel's saved_model.pb that the server reads for its signatures: protobuf's own limit on
# one serialized message (2 GiB - 1), so a bigger file could not be parsed anyway.
MAX_PROTO_BYTES = 2**31 - 1

# Requests the gRPC and the REST server each work on at once; more wait in their queues.
SERVER_THREADS = 16

# Overall deadline of a dataset download (`--download-timeout`), however slowly the server trickles bytes:
# the tutorial's 68 MB zip takes seconds on a normal line.
DOWNLOAD_TIMEOUT_SECONDS = 30 * 60


# The numbers the settings accept, from what their consumers take: a value past these fails late (after
# ingestion and Transform) or silently wraps, so the settings refuse it where it is declared.
# TensorFlow's and NumPy's seeds are uint32 (the Trainer: "Seed must be between 0 and 2**32 - 1").
MAX_SEED = 2**32 - 1
# Side of the square model input: one input image holds at most MAX_IMAGE_PIXELS, and so does the resized one
# Transform makes of it (7071x7071 floats: 600 MB an image).
MAX_IMAGE_SIZE = math.isqrt(MAX_IMAGE_PIXELS)
# Epochs of a training phase, and early stopping's patience: the longest measured recipe trains 80 (README);
# 100 times that is days of training on the smallest data, and the LR schedules count steps in int64.
MAX_EPOCHS = 10_000
# Adam's initial learning rate (--learning-rate, --fine-tune-learning-rate): a step moves each weight by about
# the rate itself. Adam's default is 1e-3, the presets' recipes use 1e-5 to 1e-3; past 1 the weights leave
# their scale, the loss goes to NaN and the Evaluator fails on it, after all the work.
MAX_LEARNING_RATE = 1.0
# Images one model call takes: a training step on one device (--batch-size) or one Predict request
# (--max-images-per-request). 4096 images of the default 150x150 are 1 GB of floats; the largest per-device
# batches in published ImageNet recipes are 256-1024.
MAX_BATCH_SIZE = 4096
# Longest wait a setting may ask for (a download's deadline, a request's timeout, the server's poll interval):
# a day. Past it gRPC's deadline overflows into the past (a --timeout of 1e20 is DEADLINE_EXCEEDED at once)
# and Python's waits raise OverflowError (threading.TIMEOUT_MAX).
MAX_WAIT_SECONDS = 24 * 60 * 60
# How often `catdog serve` looks for new versions, at the finest: TF Serving's file_system_poll_wait_seconds
# is whole seconds (default 1; 0 polls once, which catdog serve does not offer); a tiny interval busy-polls.
MIN_POLL_SECONDS = 1
# Largest gRPC message, in MiB: gRPC's max_send/receive_message_length options are int32 (2**31 - 1 bytes).
MAX_MESSAGE_MB = (2**31 - 1) // 2**20
# Versions `catdog serve` keeps loaded (--num-versions): each holds its own graph and weights (the soaks'
# resident memory rises about 250 MB over the first three), so a hundred is past any server's memory.
MAX_LOADED_VERSIONS = 100
# A model version number (a --label's VERSION): TF Serving's versions are int64.
MAX_VERSION = 2**63 - 1
# The Kubeflow Trainer's resources: GPUs (the largest machines have 16, Vertex AI's a2-megagpu-16g), CPUs and
# memory beyond any one machine's (the largest cloud machines have a few hundred vCPUs and 12 TB).
MAX_GPUS = 16
# Machines one Trainer trains on (--workers): past the largest published multi-worker image-model runs.
MAX_WORKERS = 256
MAX_CPUS = 1024
MAX_MEMORY_GB = 16 * 1024

# A REST body's JSON before it becomes Python objects: how many values (strings, numbers, lists, objects)
# and how deep its lists and objects nest. Python holds each value in 30 to 60 bytes whatever its size in
# the body, so a 64 MB body of empty lists ([[],[],...]) would expand to 1.3 GB; 200,000 values keep any
# accepted body's objects under about 15 MB, and a request of MAX_IMAGES_PER_REQUEST images needs a few
# hundred. 64 levels: a tensor's rank plus the request's own nesting (TF Serving's tensors are rank <= 254,
# an image signature's rank 1 or 2); Python's parser fails near 1,000.
MAX_REST_JSON_VALUES = 200_000
MAX_REST_JSON_DEPTH = 64

# Values a numeric input tensor may declare. A TensorProto's shape is filled from its last value
# (Tensor::FromProto), so a few bytes could declare gigabytes; 16 million float32s are the 64 MB a
# request may carry.
MAX_REQUEST_TENSOR_ELEMENTS = 16 * 1024 * 1024
