"""The limits that keep one file or one request from taking a process down, declared once with their reasons.
Ingestion, Transform's graph (so the exported model too), the reports and the server import them from here."""

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

# Uncompressed bytes of one zip member. Twice the largest JPEG of MAX_IMAGE_PIXELS at high quality,
# and the size of the largest request: a file bigger than this is not a photo. Checked against the
# size the zip declares and again while reading, since a declared size can lie.
MAX_ZIP_MEMBER_BYTES = MAX_MESSAGE_BYTES

# Requests the gRPC and the REST server each work on at once; more wait in their queues.
SERVER_THREADS = 16

# Overall deadline of a dataset download (`--download-timeout`), however slowly the server trickles bytes:
# the tutorial's 68 MB zip takes seconds on a normal line.
DOWNLOAD_TIMEOUT_SECONDS = 30 * 60
