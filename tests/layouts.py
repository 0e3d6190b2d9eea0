"""The layout ingestion would give a local zip or folder: listed, then placed (as the executor does)."""

from components.ingest import layout, sources
from pipeline.settings import RunSettings


def read_layout(data, eval_percent: int = RunSettings.eval_percent, unlabelled: bool = False) -> layout.Layout:
    return layout.place(sources.resolve(str(data)).list_files(), eval_percent, unlabelled)
