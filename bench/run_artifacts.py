"""A finished `catdog run`'s examples and Transform graph, as the Trainer reads them: for benches that train."""

import dataclasses
import os

import tensorflow_transform as tft
from ml_metadata.metadata_store import metadata_store
from tfx.components.util import tfxio_utils
from tfx.orchestration import metadata
from tfx.types import artifact_utils, standard_artifacts

from components import contract, train_input, trainer
from pipeline import configs
from pipeline.run_summary import latest_output


def _latest_artifact(store, artifact_class, node_id=None):
    """node_id: of the node that output it (--score-data runs have three nodes that output Examples)."""
    found = (
        latest_output(store, node_id, artifact_class.TYPE_NAME)
        if node_id
        else max(store.get_artifacts_by_type(artifact_class.TYPE_NAME), key=lambda a: a.id)
    )
    artifact = artifact_class()
    artifact.set_mlmd_artifact(found)
    return artifact


@dataclasses.dataclass
class RunArtifacts:
    examples: standard_artifacts.Examples
    transform_output: tft.TFTransformOutput

    @property
    def image_shape(self):
        return self.transform_output.transformed_feature_spec()[contract.IMAGE_KEY].shape

    def files(self, split: str):
        return [os.path.join(artifact_utils.get_split_uri([self.examples], split), "*")]

    def count(self, split: str) -> int:
        return contract.IngestReport.read(self.examples.uri).images(split)

    def input_plan(self, memory_share: float) -> train_input.InputPlan:
        """Cache or stream, as the Trainer would decide with --train-cache-memory-share memory_share."""
        return trainer.input_plan(memory_share, self.files("train"), self.transform_output)

    def dataset(self, split: str, batch_size: int, input_plan: train_input.InputPlan, shuffle_seed=None):
        """The Trainer's own input pipeline (components.train_input.make_dataset) over one split."""

        class _Accessor:  # the one part of the Trainer's DataAccessor that make_dataset uses
            tf_dataset_factory = tfxio_utils.get_tf_dataset_factory_from_artifact([self.examples], [])

        return train_input.make_dataset(
            self.files(split), _Accessor, self.transform_output, batch_size, input_plan, shuffle_seed
        )


def load(run_dir: str) -> RunArtifacts:
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(os.path.join(run_dir, configs.METADATA_FILE))
    )
    transform_graph = _latest_artifact(store, standard_artifacts.TransformGraph)
    examples = _latest_artifact(store, standard_artifacts.Examples, configs.TRAINING_EXAMPLE_GEN_ID)
    return RunArtifacts(examples, tft.TFTransformOutput(transform_graph.uri))
