"""GetModelStatus and GetModelMetadata answers from ServedModels (or one ModelRegistry), shared by the gRPC
and REST APIs (TF Serving's REST status and metadata are these protos printed as JSON)."""

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from serving.status import ServingError

SIGNATURE_DEF_FIELD = "signature_def"  # the only metadata field TF Serving knows


def model_status(registry, model_name: str, version: int | None):
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in registry.statuses(model_name, version):
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state.value)
        entry.status.SetInParent()  # TF Serving always sends a status, OK included
        if status.error is not None:
            entry.status.error_code = status.error.code.value[0]
            entry.status.error_message = status.error.message
    return response


def model_metadata(
    registry, model_name: str, version: int | None = None, label: str = "", fields=(SIGNATURE_DEF_FIELD,)
):
    if not fields:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field"
        )
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
    served_version, servable = registry.servable(model_name, version=version, label=label)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in servable.signature_defs.items():
        signature_defs.signature_def[name].CopyFrom(signature_def)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = model_name
    response.model_spec.version.value = served_version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_defs)
    return response
