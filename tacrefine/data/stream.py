"""Datasets that stay on disk: tactile images read from the shards when a batch needs them.

Training draws pairs at random over the whole dataset, so it needs every sample's small
fields (object, grasp pose, joints, DoF mask: ~0.2 KB) at hand, but only the images of the
few hundred samples of a batch. :func:`open_dataset` validates the dataset exactly like
:func:`tacrefine.data.storage.load_dataset` and returns the same :class:`GraspSamples`,
except that ``tactile`` is a :class:`ShardTactile`: an array-like that reads the requested
rows from the shard files. Memory then grows with the number of samples by the small
fields only, and not at all with the image size.

Shards written since this reader existed keep their images uncompressed and contiguous,
so a row is one ``pread`` at a known offset; older shards (images compressed in chunks)
are read through h5py, correct but slower (each random row decompresses its chunk).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import DatasetError, shard_label, valid_shards

logger = logging.getLogger(__name__)

#: Allowed values of ``data.stream`` (training): stream, load into memory, or stream when
#: every shard keeps its images contiguous.
STREAM_CHOICES = ("auto", True, False)


def _max_open_files() -> int:
    """Shard files kept open at once: 512, or a quarter of the process's file limit if lower."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 64
    return 512 if soft == resource.RLIM_INFINITY else max(8, min(512, soft // 4))


#: Shard files kept open at once (the least recently used is closed beyond this).
MAX_OPEN_FILES = _max_open_files()

#: What identifies a shard file on disk: ``(st_dev, st_ino, st_size, st_mtime_ns)``.
FileIdentity = tuple[int, int, int, int]


def file_identity(st: os.stat_result) -> FileIdentity:
    """Device, inode, size and modification time: a replaced or rewritten file differs in one."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ShardTactile:
    """``uint8 (N, fingers, channels, rows, cols)`` images of a dataset, read on demand.

    Indexing with an integer, a slice, or an integer / boolean array returns a NumPy array
    (rows in the order asked, repeats allowed), as indexing the loaded array would. Nothing
    of the images is kept: the object holds each shard's path, first row and row layout,
    and at most ``max_open`` open files.
    """

    ndim = 5
    dtype = np.dtype(np.uint8)

    def __init__(self, files: Sequence[str | Path], counts: Sequence[int], sample_shape: Sequence[int],
                 labels: Sequence[str] | None = None, max_open: int = MAX_OPEN_FILES,
                 identities: Sequence[FileIdentity] | None = None) -> None:
        if len(files) != len(counts) or not files:
            raise ValueError("ShardTactile: one sample count per shard file, at least one shard")
        self._files = [str(f) for f in files]
        self._labels = list(labels) if labels is not None else [Path(f).name for f in self._files]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.shape = (int(self._starts[-1]), *(int(s) for s in sample_shape))
        self._row_bytes = int(np.prod(self.shape[1:]))
        self._offsets: dict[int, int | None] = {}  # shard -> byte offset of contiguous images, None = chunked
        self._open: OrderedDict[int, Any] = OrderedDict()  # shard -> fd (contiguous) or (h5py.File, file)
        self._pid = os.getpid()  # handles are only valid in the process that opened them
        self.max_open = max(1, int(max_open))
        if identities is not None and len(identities) != len(files):
            raise ValueError("ShardTactile: one file identity per shard file")
        self._identities = list(identities) if identities is not None else None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without open files: fd numbers and HDF5 handles mean nothing in another process."""
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def open_files(self) -> int:
        return len(self._open)

    def chunked_shards(self) -> list[str]:
        """Shards whose images are compressed in chunks (slow to read at random)."""
        for shard, path in enumerate(self._files):
            if shard not in self._offsets:
                self._offsets[shard] = contiguous_offset(path, self.shape[1:])
        return [self._labels[s] for s in range(len(self._files)) if self._offsets[s] is None]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._rows(np.array([int(key)]))[0]
        if isinstance(key, slice):
            return self._rows(np.arange(len(self))[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean index of shape {idx.shape} for {len(self)} samples")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (len(idx) and not np.issubdtype(idx.dtype, np.integer)):
            raise IndexError("ShardTactile: index with an integer, a slice or a 1-d integer / boolean array")
        return self._rows(idx.astype(np.int64))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every image at once (as much memory as the loaded dataset; for small datasets and checks)."""
        out = self._rows(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        n = len(self)
        idx = np.where(idx < 0, idx + n, idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"sample index out of range for {n} samples")
        if not len(idx):
            return np.empty((0, *self.shape[1:]), np.uint8)
        unique, inverse = np.unique(idx, return_inverse=True)
        rows = np.empty((len(unique), self._row_bytes), np.uint8)
        shard_of = (np.searchsorted(self._starts, unique, side="right") - 1).tolist()
        local = (unique - self._starts[shard_of]).tolist()
        lo = 0  # plain Python from here: a batch touches hundreds of shards, a row or two each
        for hi in range(1, len(unique) + 1):
            if hi == len(unique) or shard_of[hi] != shard_of[lo]:
                self._read(shard_of[lo], local[lo:hi], rows[lo:hi])
                lo = hi
        return rows[inverse.reshape(-1)].reshape((len(idx), *self.shape[1:]))

    def _read(self, shard: int, rows: list[int], out: np.ndarray) -> None:
        """Rows ``rows`` (sorted, unique, within the shard) of one shard into ``out``."""
        handle = self._handle(shard)
        offset = self._offsets[shard]
        if offset is None:  # images compressed in chunks (older shards): h5py decompresses
            try:
                whole_run = rows[-1] - rows[0] + 1 == len(rows)
                images = handle[0]["tactile"]
                data = images[rows[0]:rows[-1] + 1] if whole_run else images[rows]
                out[:] = data.reshape(len(rows), -1)
            except (OSError, ValueError) as exc:
                raise DatasetError(f"{self._labels[shard]}: images unreadable ({exc})") from exc
            return
        size = self._row_bytes
        view = memoryview(out).cast("B")
        lo = 0
        for hi in range(1, len(rows) + 1):  # one read per run of consecutive rows
            if hi == len(rows) or rows[hi] != rows[hi - 1] + 1:
                got = os.preadv(handle, [view[lo * size:hi * size]], offset + rows[lo] * size)
                if got != (hi - lo) * size:
                    raise DatasetError(f"{self._labels[shard]}: file shorter than its images "
                                       f"(changed or truncated after it was checked)")
                lo = hi

    def _handle(self, shard: int) -> Any:
        self._forget_if_forked()
        if shard in self._open:
            self._open.move_to_end(shard)
            return self._open[shard]
        while len(self._open) >= self.max_open:
            self._close(*self._open.popitem(last=False))
        path = self._files[shard]
        if shard not in self._offsets:
            self._offsets[shard] = contiguous_offset(path, self.shape[1:])
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DatasetError(f"{self._labels[shard]}: cannot open {path} ({exc})") from exc
        try:
            self._check_identity(shard, os.fstat(fd))
            if self._offsets[shard] is None:  # h5py reads through the very file whose identity was checked
                fileobj = os.fdopen(fd, "rb")
                fd = -1
                try:
                    handle: Any = (h5py.File(fileobj, "r"), fileobj)
                except BaseException:
                    fileobj.close()
                    raise
            else:
                handle = fd
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            raise DatasetError(f"{self._labels[shard]}: cannot open {path} ({exc})") from exc
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        self._open[shard] = handle
        return handle

    def _check_identity(self, shard: int, st: os.stat_result) -> None:
        """Refuse a shard file that is not the one checked by :func:`open_dataset` (replaced or
        rewritten since): its images would not match the samples' poses held in memory."""
        if self._identities is not None and file_identity(st) != self._identities[shard]:
            raise DatasetError(f"{self._labels[shard]}: file {self._files[shard]} changed since the dataset "
                               f"was opened and checked (regenerated or rewritten?); reopen the dataset")

    def _forget_if_forked(self) -> None:
        """In a child process (fork) drop the parent's handles: fds are copies we may close,
        HDF5 handles are not fork-safe and are only forgotten."""
        if self._pid == os.getpid():
            return
        for handle in self._open.values():
            if isinstance(handle, int):
                with contextlib.suppress(OSError):
                    os.close(handle)
        self._open = OrderedDict()
        self._pid = os.getpid()

    @staticmethod
    def _close(shard: int, handle: Any) -> None:
        if isinstance(handle, int):
            os.close(handle)
        else:
            handle[0].close()
            handle[1].close()

    @classmethod
    def join(cls, parts: Sequence[ShardTactile], prefixes: Sequence[str] | None = None) -> ShardTactile:
        """The images of several readers, in order, as one (datasets read as their union).

        ``prefixes``: one per part, put before its shard labels so errors name the dataset.
        """
        if not parts or len({p.shape[1:] for p in parts}) != 1:
            raise ValueError("ShardTactile.join: at least one reader, all of the same image shape")
        prefixes = list(prefixes) if prefixes is not None else [""] * len(parts)
        files = [f for p in parts for f in p._files]
        counts = [int(c) for p in parts for c in np.diff(p._starts)]
        labels = [pre + lab for p, pre in zip(parts, prefixes, strict=True) for lab in p._labels]
        identities = (None if any(p._identities is None for p in parts)
                      else [i for p in parts for i in p._identities])  # type: ignore[union-attr]
        joined = cls(files, counts, parts[0].shape[1:], labels=labels, max_open=max(p.max_open for p in parts),
                     identities=identities)
        offset = 0
        for p in parts:  # keep the layouts already learnt (from the very files checked)
            joined._offsets.update({offset + s: o for s, o in p._offsets.items()})
            offset += len(p._files)
        return joined

    def close(self) -> None:
        """Close every open shard file (reads reopen them)."""
        self._forget_if_forked()
        while self._open:
            self._close(*self._open.popitem())

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing to release any more
            self.close()


def contiguous_offset(path: str | Path, sample_shape: Sequence[int]) -> int | None:
    """Byte offset of a shard's images when they are stored uncompressed and contiguous in
    the file (then a row is a plain read); ``None`` for chunked or compressed images."""
    try:
        with h5py.File(path, "r") as fh:
            ds = fh["tactile"]
            if ds.chunks is not None or ds.compression is not None or ds.dtype != np.uint8:
                return None
            if tuple(ds.shape[1:]) != tuple(sample_shape):
                raise DatasetError(f"{Path(path).name}: tactile images of shape {ds.shape[1:]}, "
                                   f"expected {tuple(sample_shape)}")
            offset = ds.id.get_offset()
    except (OSError, KeyError) as exc:
        raise DatasetError(f"{Path(path).name}: unreadable HDF5 file ({exc})") from exc
    return None if offset is None else int(offset)


def open_dataset(root: str | Path, allow_incomplete: bool = False,
                 max_open: int = MAX_OPEN_FILES) -> tuple[GraspSamples, dict[str, Any]]:
    """The dataset at ``root`` with its images left in the shards (see the module docstring).

    Checked like :func:`tacrefine.data.storage.load_dataset` (every shard's checksum and
    content; problems raise :class:`DatasetError` naming the shard), and the samples come
    in the same order, so any index gives the same sample as the loaded dataset.
    """
    root = Path(root)
    manifest, kept = valid_shards(root, allow_incomplete, images=False)
    order = sorted(kept)
    entries = {e["index"]: e for e in manifest["shards"]}
    parts = [kept[i] for i in order]
    files = [root / entries[i]["file"] for i in order]
    try:  # the files just checked: every later (re)open must find these very files
        identities = [file_identity(os.stat(f)) for f in files]
    except OSError as exc:
        raise DatasetError(f"dataset {root}: shard file vanished after its check ({exc})") from exc
    tactile = ShardTactile(files, [len(p) for p in parts],
                           parts[0].tactile.shape[1:], labels=[shard_label(entries[i]) for i in order],
                           max_open=max_open, identities=identities)
    tactile.chunked_shards()  # learn every shard's layout now, while the files are the checked ones
    return GraspSamples.concatenate(parts, tactile=tactile), manifest


def load_for_training(root: str | Path, stream: bool | str = "auto") -> tuple[GraspSamples, dict[str, Any]]:
    """The dataset at ``root`` for training: images left in the shards (``stream=True``),
    loaded into memory (``False``), or ``"auto"``: streamed unless some shard compresses its
    images in chunks (written before streaming existed), which is then loaded as before."""
    if not (isinstance(stream, bool) or stream == "auto"):
        raise ValueError(f"stream: got {stream!r}; allowed: {list(STREAM_CHOICES)}")
    samples, manifest = open_dataset(root)
    return apply_stream_choice(samples, stream, str(root)), manifest


def apply_stream_choice(samples: GraspSamples, stream: bool | str, label: str) -> GraspSamples:
    """``samples`` (images in a :class:`ShardTactile`) with the images loaded into memory when
    ``stream`` is ``False``, or ``"auto"`` and some shard compresses its images in chunks."""
    tactile = samples.tactile
    chunked = tactile.chunked_shards() if stream == "auto" else []
    if stream is False or (stream == "auto" and chunked):
        if chunked:
            logger.info("dataset %s: %d shard(s) (%s ...) store images compressed in chunks, slow to read at "
                        "random; loading the images into memory (regenerate the dataset to stream it)",
                        label, len(chunked), chunked[0])
        samples.tactile = np.asarray(tactile)
        tactile.close()
    return samples
