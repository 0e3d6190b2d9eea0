"""What the pipeline sees, drawn: data samples, training curves, evaluation, feature maps, run reports."""
