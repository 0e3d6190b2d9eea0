"""Hostile files made on the spot, small on disk: images whose headers ask for huge decodes, zips whose
members inflate far beyond their compressed size or lie about it."""

import io
import struct
import zipfile
import zlib
from pathlib import Path

import imagegen
from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid all-black grayscale PNG: 20000x20000 is 400 MB of pixels (1.2 GB as RGB) in about 400 KB."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte, then the pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) says width x height."""
    data = bytearray(imagegen.image_bytes(0, (64, 48), "jpg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    """A small GIF whose logical screen (what the decoder allocates per frame) is width x height."""
    data = bytearray(imagegen.image_bytes(0, (64, 48), "gif"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def gif_frames_bomb(side: int = 7000, frames: int = 50) -> bytes:
    """A GIF of many all-black side x side frames (about 36 KB each): the decoder expands every frame,
    50 of 7000x7000 are 2.5 GB, though only the first is kept."""
    image = Image.new("P", (side, side), 0)
    out = io.BytesIO()
    image.save(out, "GIF")
    one = out.getvalue()
    flags = one[10]
    start = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global color table
    return one[:start] + one[start:-1] * frames + b";"  # the image block, repeated, then the trailer


def gif_frame_claiming(width: int, height: int) -> bytes:
    """A small GIF (small screen) whose one frame descriptor says width x height: giflib allocates that."""
    data = bytearray(imagegen.image_bytes(0, (64, 48), "gif"))
    descriptor = data.index(b",", 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0))
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(imagegen.image_bytes(0, (64, 48), "bmp"))
    data[18:26] = struct.pack("<ii", width, -height)  # negative: rows stored top-down
    return bytes(data)


def add_zeros_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """A deflated member of size zero bytes (about 1 KB per MB compressed), written without holding it."""
    block = b"\0" * (1 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=size > 0x7FFFFFFF) as out:
        for start in range(0, size, len(block)):
            out.write(block[: min(len(block), size - start)])


def zip_with_zeros(path, files: dict, bomb_name: str, bomb_size: int) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        add_zeros_member(zf, bomb_name, bomb_size)
    return str(path)


def lie_about_size(path, member: str, claimed: int) -> None:
    """Rewrites the uncompressed size the zip declares for member (local header and central directory)."""
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(member)
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", claimed)
    name = member.encode()
    central = 0
    while True:  # the central directory entry whose name is member
        central = data.index(b"PK\x01\x02", central)
        name_length = struct.unpack("<H", data[central + 28 : central + 30])[0]
        if data[central + 46 : central + 46 + name_length] == name:
            break
        central += 4
    data[central + 24 : central + 28] = struct.pack("<I", claimed)
    Path(path).write_bytes(bytes(data))
