"""The safetensors layout of skvae files: digest, atomic write, bounded read.

A file is a safetensors file whose string metadata holds two entries: the
JSON document (``skvae``) and a SHA-256 digest (``skvae_sha256``) of that
document and of every tensor's name, dtype, shape and bytes. Reading never
trusts the file: only a regular file is read, exactly its size and at most
:data:`MAX_FILE_BYTES`; the 8-byte header length and the JSON header are
parsed here, and every tensor entry's dtype, shape and data offsets are
checked (contiguous from the start of the data, non-overlapping, inside the
file, ``numel * itemsize`` bytes long) as safetensors' own Rust reader does,
before the digest is verified and before any tensor is made.
"""

import errno
import hashlib
import math
import os
import stat

import safetensors.torch
import torch

from ._codec import parse_json
from ._messages import Invalid, quote

__all__ = ["Container", "digest", "read", "write_atomic", "MAX_FILE_BYTES"]

DOC_KEY = "skvae"
DIGEST_KEY = "skvae_sha256"
#: largest file :func:`read` reads (a model of about 2.5 billion parameters
#: with its Adam state); larger ones are refused before anything is read
MAX_FILE_BYTES = 32 * 2**30
#: largest JSON header, as safetensors' own limit
MAX_HEADER_BYTES = 100 * 2**20
_MAX_DIMS = 8
#: the tensor dtypes a file may hold, by safetensors name: (torch dtype, bytes)
DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
}


def _digest_update(h, name, dtype, shape, raw):
    h.update(f"\0{name}\0{dtype}\0{list(shape)}\0".encode())
    h.update(raw)


def digest(doc_text, tensors):
    """SHA-256 of the JSON document and of every tensor's name, dtype, shape, bytes."""
    h = hashlib.sha256()
    h.update(b"skvae\0")
    h.update(doc_text.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        _digest_update(h, name, tensor.dtype, tensor.shape, raw.numpy().data)
    return h.hexdigest()


# -------------------------------------------------------------------- write


def _temporary_name(path):
    """The temporary file of a save to ``path``: the same for every save, so a
    save interrupted without cleanup leaves a file the next one replaces."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.skvae-tmp")


def write_atomic(path, tensors, doc_text):
    """Write the file next to ``path`` and rename it over ``path``.

    An existing file's permission bits are kept; an interrupted write leaves
    ``path`` as it was, and its temporary file is removed (or replaced by
    the next save to the same path).
    """
    path = os.fsdecode(os.fspath(path))
    metadata = {DOC_KEY: doc_text, DIGEST_KEY: digest(doc_text, tensors)}
    data = safetensors.torch.save(tensors, metadata=metadata)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = _temporary_name(path)
    try:
        os.unlink(tmp)  # left by an interrupted save; never written through
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
        with open(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --------------------------------------------------------------------- read


class Container:
    """A checked file: its document text and tensor entries, no tensor made yet.

    ``entries`` maps each tensor name to ``(torch dtype, shape, start, end)``,
    offsets into ``data``.
    """

    def __init__(self, doc_text, entries, data):
        self.doc_text, self.entries, self._data = doc_text, entries, data

    def tensor(self, name):
        """A new CPU tensor from the bytes of entry ``name``."""
        dtype, shape, start, end = self.entries[name]
        if start == end:
            return torch.empty(shape, dtype=dtype)
        raw = bytearray(self._data[start:end])
        return torch.frombuffer(raw, dtype=dtype).reshape(shape)

    def digest(self):
        h = hashlib.sha256()
        h.update(b"skvae\0")
        h.update(self.doc_text.encode())
        view = memoryview(self._data)
        for name in sorted(self.entries):
            dtype, shape, start, end = self.entries[name]
            _digest_update(h, name, dtype, shape, view[start:end])
        return h.hexdigest()


def read_bytes(path):
    """The bytes of the regular file ``path``; special files are refused at once.

    Raises ``Invalid`` for a device, pipe or socket (a symlink to
    ``/dev/zero`` included) and for a file over :data:`MAX_FILE_BYTES`;
    OSError (FileNotFoundError, IsADirectoryError...) if it cannot be read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO does not wait
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(info.st_mode):
            raise Invalid(
                "it is not a regular file (a device, pipe or socket); skvae reads "
                "only regular files"
            )
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise Invalid(
                f"it is {size} bytes long, more than the {MAX_FILE_BYTES} bytes "
                "skvae reads"
            )
        data = bytearray(size)
        view, done = memoryview(data), 0
        while done < size:
            n = os.readv(fd, [view[done:]])
            if n == 0:
                raise Invalid("it was truncated while being read")
            done += n
        return data
    finally:
        os.close(fd)


def _not_safetensors(data, why):
    if data[:1] == b"\x80" or data[:2] == b"PK":
        return Invalid(
            "it looks like a pickle (or a torch.save/zip archive), not an "
            "skvae file; skvae.load never unpickles. Load such files with "
            "pickle or joblib only if you trust their source"
        )
    return Invalid(f"it is not a valid safetensors file ({why})")


def _parse_header(data):
    """The metadata and checked tensor entries of a file's bytes."""
    if len(data) < 8:
        raise _not_safetensors(data, "shorter than its 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n < 2 or n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise _not_safetensors(
            data, f"a header of {n} bytes in a {len(data)}-byte file"
        )
    raw = bytes(data[8 : 8 + n])
    if raw[:1] != b"{":
        raise _not_safetensors(data, "its header is not a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_safetensors(data, "its header is not UTF-8") from None
    try:
        header = parse_json(text, "its header")
    except Invalid as exc:
        raise _not_safetensors(data, exc) from None
    if type(header) is not dict:
        raise _not_safetensors(data, "its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if type(metadata) is not dict or not all(
        type(k) is str and type(v) is str for k, v in metadata.items()
    ):
        raise _not_safetensors(data, "its metadata is not a map of strings")
    base, size = 8 + n, len(data) - 8 - n
    spans, entries = [], {}
    for name, entry in header.items():
        entries[name] = _entry(data, name, entry, base)
        spans.append((entries[name][2] - base, entries[name][3] - base, name))
    position = 0
    for start, end, name in sorted(spans):
        if start != position:
            raise _not_safetensors(
                data, f"tensor {quote(name)} does not follow the previous one"
            )
        position = end
    if position != size:
        raise _not_safetensors(
            data, f"its data are {size} bytes, its tensors {position}"
        )
    return metadata, entries


def _entry(data, name, entry, base):
    where = f"tensor {quote(name)}"
    if type(entry) is not dict or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _not_safetensors(data, f"{where} has a malformed entry")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if type(dtype) is not str or dtype not in DTYPES:
        raise _not_safetensors(data, f"{where} has an unsupported dtype {quote(dtype)}")
    if (
        type(shape) is not list
        or len(shape) > _MAX_DIMS
        or not all(type(s) is int and 0 <= s < 2**62 for s in shape)
    ):
        raise _not_safetensors(data, f"{where} has an invalid shape")
    if (
        type(offsets) is not list
        or len(offsets) != 2
        or not all(type(o) is int and 0 <= o <= len(data) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _not_safetensors(data, f"{where} has invalid data offsets")
    torch_dtype, itemsize = DTYPES[dtype]
    if math.prod(shape) * itemsize != offsets[1] - offsets[0]:
        raise _not_safetensors(data, f"{where}: its shape and byte length disagree")
    return torch_dtype, tuple(shape), base + offsets[0], base + offsets[1]


def read(path):
    """The checked :class:`Container` of file ``path`` (raises Invalid or OSError)."""
    data = read_bytes(path)
    if not data:
        raise Invalid("the file is empty")
    metadata, entries = _parse_header(data)
    doc_text = metadata.get(DOC_KEY)
    if type(doc_text) is not str:
        raise Invalid(
            "it is a safetensors file but was not saved by skvae (no 'skvae' metadata)"
        )
    container = Container(doc_text, entries, data)
    container.expected_digest = metadata.get(DIGEST_KEY)
    return container


def verify(container):
    """Invalid unless the container's digest matches its content."""
    if container.expected_digest != container.digest():
        raise Invalid(
            "its content does not match its SHA-256 digest: the file is damaged "
            "or was modified after saving"
        )
