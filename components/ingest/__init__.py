"""Ingestion: a zip of images in class folders, from a URL or a path, to tf.Examples."""
