"""Special files in user data: a FIFO, a symlink to /dev/zero, a folder or socket where a file should be, a file
this user may not read. Each is a skipped file (or a one-line error, for a file named on the command line) with
its reason, read by no one: never a hang, never an endless copy. The commands run under a timeout and a file
size limit (RLIMIT_FSIZE), so a regression fails the test instead of filling the disk."""

import contextlib
import io
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import imagegen
import pytest
from conftest import run_catdog
from ingest_runs import write_folder

from components import files, limits
from components.ingest import sources, staging

# No file the commands below write comes near this; a copy of /dev/zero reaches it in a second.
FILE_SIZE_LIMIT = 2 * limits.MAX_FILE_BYTES
FIFO_REASON = "not a regular file: it is a FIFO (named pipe)"
DEVICE_REASON = "not a regular file: it is a character device"


def add_special_files(folder: Path, fifo: str, zero: str) -> Path:
    """A FIFO at fifo and a symlink to /dev/zero at zero, names relative to folder."""
    (folder / fifo).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / fifo)
    (folder / zero).parent.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/zero", folder / zero)
    return folder


@pytest.fixture
def special_folder(tmp_path) -> Path:
    """Three images a class, a FIFO among the cats and /dev/zero among the dogs."""
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(3))
    return add_special_files(folder, "cats/f.jpg", "dogs/z.jpg")


@pytest.fixture
def file_size_guard():
    """In this process, a write past FILE_SIZE_LIMIT fails (EFBIG) instead of growing the file."""
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, previous_limit[1]))
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
    signal.signal(signal.SIGXFSZ, previous_handler)


def bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- the reader -------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_special_files_are_refused_without_opening_them(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    os.symlink(tmp_path / "absent", tmp_path / "dangling")
    (tmp_path / "folder").mkdir()
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        sock.bind(str(tmp_path / "socket"))
        expected = {
            "fifo": FIFO_REASON,
            "zero": DEVICE_REASON,
            "dangling": "no such file",
            "folder": "not a regular file: it is a folder",
            "socket": "not a regular file: it is a socket",
        }
        for name, reason in expected.items():
            with pytest.raises(files.FileRefused) as refused:
                files.read_bytes(str(tmp_path / name))
            assert (refused.value.path, refused.value.reason) == (str(tmp_path / name), reason)


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.jpg").write_bytes(b"jpeg")
    os.symlink(tmp_path / "real.jpg", tmp_path / "link.jpg")
    assert files.read_bytes(str(tmp_path / "link.jpg")) == b"jpeg"


def test_reads_and_copies_stop_at_the_limit(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 5000)
    with pytest.raises(files.FileRefused, match="holds more than the 4,000 bytes allowed for one file"):
        files.read_bytes(str(tmp_path / "big"), max_bytes=4000)
    copy = io.BytesIO()
    with open(tmp_path / "big", "rb") as source, pytest.raises(files.FileRefused, match="more than the 4,000"):
        files.copy_capped(source, copy, "big", max_bytes=4000)
    assert len(copy.getvalue()) <= 4000
    assert files.read_bytes(str(tmp_path / "big"), max_bytes=5000) == b"x" * 5000


def test_a_file_this_user_may_not_read_is_refused_with_the_reason(tmp_path):
    (tmp_path / "secret.jpg").write_bytes(b"jpeg")
    (tmp_path / "secret.jpg").chmod(0)
    # root reads any file: the check runs as nobody, in a child that has imported what it needs first.
    as_nobody = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else "pass"
    script = (
        f"import os, sys\nfrom components import files\n{as_nobody}\n"
        "try:\n    files.read_bytes(sys.argv[1])\nexcept files.FileRefused as e:\n    print(e.reason)\n"
    )
    tmp_path.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "secret.jpg")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "unreadable: permission denied", result.stderr


# --- ingestion: listing, staging, reading -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_folder_reader_skips_special_files_with_their_reasons(special_folder):
    with sources.Source(str(special_folder), is_zip=False).open() as reader:
        assert reader.read("cats/cats.0.jpg")
        for name, reason in (("cats/f.jpg", FIFO_REASON), ("dogs/z.jpg", DEVICE_REASON)):
            with pytest.raises(sources.UnreadableMember) as refused:
                reader.read(name)
            assert refused.value.reason == reason


@pytest.mark.timeout(60)
def test_staging_copies_no_special_file(special_folder, tmp_path, file_size_guard):
    source = sources.Source(str(special_folder), is_zip=False)
    names = [f.name for f in source.list_files().files]
    staged, not_copied = staging.reachable(source, names, str(tmp_path / "staged"))
    assert sorted(not_copied) == [("cats/f.jpg", FIFO_REASON), ("dogs/z.jpg", DEVICE_REASON)]
    assert not (tmp_path / "staged" / "cats" / "f.jpg").exists()
    assert not (tmp_path / "staged" / "dogs" / "z.jpg").exists()
    assert bytes_under(tmp_path / "staged") == bytes_under(special_folder)


@pytest.mark.timeout(300)
def test_ingestion_skips_special_files_and_goes_on(special_folder, tmp_path, file_size_guard):
    from ingest_runs import examples_of, report_of, run_ingestion

    examples = run_ingestion(tmp_path / "ImageExampleGen" / "examples" / "1", special_folder)
    skipped = {s["file"]: s["reason"] for s in report_of(examples)["skipped"]}
    assert skipped == {"cats/f.jpg": FIFO_REASON, "dogs/z.jpg": DEVICE_REASON}
    assert len(examples_of(examples)) == 6


def test_a_zip_that_is_a_special_file_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "pets.zip")
    os.symlink("/dev/zero", tmp_path / "zero.zip")
    for data, reason in ((tmp_path / "pets.zip", FIFO_REASON), (tmp_path / "zero.zip", DEVICE_REASON)):
        result = run_catdog(
            "inspect-data", "--data", data, "--out", tmp_path / "out", timeout=120, max_file_bytes=FILE_SIZE_LIMIT
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1] == f"catdog: error: {data}: {reason}"


# --- the commands -----------------------------------------------------------------------------------------


def test_inspect_data_lists_special_files_and_goes_on(special_folder, tmp_path):
    result = run_catdog(
        "inspect-data", "--data", special_folder, "--out", tmp_path / "out", timeout=300, max_file_bytes=FILE_SIZE_LIMIT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"cats/f.jpg: {FIFO_REASON}" in result.stdout and f"dogs/z.jpg: {DEVICE_REASON}" in result.stdout
    assert (tmp_path / "out" / "samples.png").stat().st_size > 0


def test_run_names_the_special_files_and_writes_no_copy_of_them(tmp_path):
    """The training dogs are special files only: ingestion skips both, names them, and the run stops there."""
    images = imagegen.class_folder_files(3, classes=("cats",), prefix="train/")
    images.update(imagegen.class_folder_files(2, prefix="validation/", seed=100))
    folder = add_special_files(write_folder(tmp_path / "data", images), "train/dogs/f.jpg", "train/dogs/z.jpg")
    output = tmp_path / "out"
    result = run_catdog(
        "run", "--data", folder, "--output", output, "--model", "tutorial", timeout=600, max_file_bytes=FILE_SIZE_LIMIT
    )
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("catdog: error:")]
    assert "split 'train' has no decodable image of class 'dogs'; 2 files skipped: " in line
    assert f"train/dogs/f.jpg: {FIFO_REASON}; train/dogs/z.jpg: {DEVICE_REASON}" in line
    assert bytes_under(output) < limits.MAX_FILE_BYTES  # metadata and a report: no copy of /dev/zero


@pytest.mark.parametrize("special, reason", [("fifo", FIFO_REASON), ("zero", DEVICE_REASON)])
@pytest.mark.parametrize(
    "args, shown",
    [
        (("run", "--schema-file", "{path}"), "--schema-file {path}: "),
        (("run", "--backbone-weights", "{path}"), "{path}: backbone weights file "),
        (
            ("serve", "--model-base-path", "{tmp}", "--enable-batching", "--batching-parameters-file", "{path}"),
            "{path}: cannot read the batching parameters: ",
        ),
        (("kfp", "deploy", "--host", "http://127.0.0.1:1", "--package", "{path}.yaml"), "--package {path}.yaml: "),
        (("visualize", "{path}", "--model", "{tmp}"), "{path}: "),
    ],
)
def test_a_special_file_named_on_the_command_line_is_one_line(tmp_path, special, reason, args, shown):
    path = tmp_path / special
    for name in (special, f"{special}.yaml"):
        os.mkfifo(tmp_path / name) if special == "fifo" else os.symlink("/dev/zero", tmp_path / name)
    result = run_catdog(*(a.format(path=path, tmp=tmp_path) for a in args), timeout=300, max_file_bytes=FILE_SIZE_LIMIT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(f"catdog: error: {shown.format(path=path)}{reason}")


def test_predict_and_visualize_refuse_special_image_files(tmp_path):
    add_special_files(tmp_path, "f.jpg", "z.jpg")
    result = run_catdog("predict", "--server", "127.0.0.1:1", tmp_path / "f.jpg", tmp_path / "z.jpg", timeout=60)
    assert result.returncode == 1
    assert f"catdog: error: {tmp_path / 'f.jpg'}: cannot read image file: {FIFO_REASON}" in result.stderr
    assert f"catdog: error: {tmp_path / 'z.jpg'}: cannot read image file: {DEVICE_REASON}" in result.stderr
    result = run_catdog("visualize", tmp_path / "f.jpg", "--model", tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"catdog: error: {tmp_path / 'f.jpg'}: {FIFO_REASON}"


def test_score_lists_special_files_and_scores_the_others(pipeline_run, special_folder, tmp_path):
    output = tmp_path / "scores.jsonl"
    result = run_catdog(
        "score",
        special_folder,
        "--model",
        pipeline_run.serving_dir,
        "--output",
        output,
        timeout=600,
        max_file_bytes=FILE_SIZE_LIMIT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {
        row["file"][len(str(special_folder)) + 1 :]: row for row in map(json.loads, output.read_text().splitlines())
    }
    assert rows["cats/f.jpg"]["error"] == f"cannot read: {FIFO_REASON}"
    assert rows["dogs/z.jpg"]["error"] == f"cannot read: {DEVICE_REASON}"
    assert sum("class_name" in row for row in rows.values()) == 6


@pytest.mark.timeout(120)
def test_a_warmup_file_that_is_a_fifo_fails_the_load_instead_of_blocking(tmp_path):
    from components.contract import warmup_path
    from serving.server.warmup import read_warmup_requests

    path = Path(warmup_path(str(tmp_path)))
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(ValueError, match=f"{path}: {re.escape(FIFO_REASON)}"):
        read_warmup_requests(str(tmp_path))
