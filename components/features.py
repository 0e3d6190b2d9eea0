"""Feature keys shared by ingestion, Transform, the Trainer and serving."""

# tf.Example features written by the ExampleGen.
IMAGE_RAW_KEY = "image_raw"  # encoded image bytes, as found in the zip
LABEL_KEY = "label"  # int64 index into the sorted class names
FILENAME_KEY = "filename"  # path of the image inside the zip

# Transformed feature: the model's input.
IMAGE_KEY = "image"  # float32 [height, width, 3] in [0, 1]

# Files the ExampleGen writes beside the Split-* folders of its Examples artifact.
LABEL_NAMES_FILE = "label_names.json"
INGEST_REPORT_FILE = "ingest_report.json"
