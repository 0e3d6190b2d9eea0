"""Which versions the registry loads, serves and reports, with a stand-in loader (no TensorFlow)."""

from pathlib import Path

import grpc
import pytest

from serving.server.model_registry import ModelRegistry, VersionState
from serving.status import ServingError

BROKEN = b"broken"


class FakeServable:
    def __init__(self, path: str):
        if (Path(path) / "saved_model.pb").read_bytes() == BROKEN:
            raise ServingError(grpc.StatusCode.DATA_LOSS, f"cannot parse {path}")
        self.path = path


def add_version(base: Path, version, content: bytes = b"model") -> None:
    (base / str(version)).mkdir()
    (base / str(version) / "saved_model.pb").write_bytes(content)


@pytest.fixture
def base(tmp_path):
    return tmp_path


def registry(base, **options) -> ModelRegistry:
    r = ModelRegistry("m", str(base), load=FakeServable, **options)
    r.poll()
    return r


def loaded(r: ModelRegistry):
    return sorted(s.version for s in r.statuses("m") if s.state == VersionState.AVAILABLE)


def test_serves_the_newest_version_and_ignores_other_folders(base):
    add_version(base, 1)
    add_version(base, 20)
    add_version(base, 3)
    add_version(base, ".staging-40-1")
    (base / "50").mkdir()  # no saved_model.pb yet: not a version until it has one
    r = registry(base)
    assert loaded(r) == [20]
    assert r.servable("m")[0] == 20
    add_version(base, 30)
    r.poll()
    assert loaded(r) == [30]
    assert [s.state for s in r.statuses("m")] == [VersionState.AVAILABLE, VersionState.END]


def test_num_versions_and_labels_keep_older_versions_loaded(base):
    for version in (1, 2, 3, 4):
        add_version(base, version)
    r = registry(base, num_versions=2, labels={"stable": 1})
    assert loaded(r) == [1, 3, 4]
    assert r.servable("m", version=3)[0] == 3
    assert r.servable("m", label="stable")[0] == 1
    with pytest.raises(ServingError) as raised:
        r.servable("m", version=2)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_a_version_that_fails_to_load_leaves_the_previous_one_serving(base):
    add_version(base, 1)
    r = registry(base)
    add_version(base, 2, BROKEN)
    for _ in range(2):  # and it is not retried
        r.poll()
        assert loaded(r) == [1]
    assert r.servable("m")[0] == 1
    failed = r.statuses("m", 2)[0]
    assert failed.state == VersionState.END
    assert failed.error.code == grpc.StatusCode.DATA_LOSS
    add_version(base, 3)
    r.poll()
    assert loaded(r) == [3]


def test_when_the_newest_fails_the_next_newest_takes_over_in_the_same_poll(base):
    add_version(base, 1)
    r = registry(base)
    add_version(base, 2)
    add_version(base, 3, BROKEN)
    r.poll()
    assert loaded(r) == [2]
    assert r.statuses("m", 3)[0].error is not None


def test_a_removed_version_is_unloaded(base):
    add_version(base, 1)
    add_version(base, 2)
    r = registry(base)
    (base / "2" / "saved_model.pb").unlink()
    (base / "2").rmdir()
    r.poll()
    assert loaded(r) == [1]
    assert r.statuses("m", 2)[0].state == VersionState.END


def test_nothing_loaded_is_not_found(base):
    r = registry(base)
    with pytest.raises(ServingError) as raised:
        r.servable("m")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ServingError) as raised:
        r.statuses("m")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_start_on_a_missing_folder_names_it(tmp_path):
    r = ModelRegistry("m", str(tmp_path / "nowhere"), load=FakeServable)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        r.start(poll_seconds=1)
