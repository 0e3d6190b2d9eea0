"""Ingestion: images in class folders (a zip, a folder or an object-store prefix) to tf.Examples."""
