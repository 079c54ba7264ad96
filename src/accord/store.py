"""A resumable on-disk store of concordant simulations.

A store is a directory::

    store.json          what was simulated: problem, prior, seed, n, chunk_size
    chunk-000000.h5     one HDF5 file per finished chunk: theta, x_A, x_B
    chunk-000001.h5
    ...

Each file is written under a temporary name and renamed when complete, so a
run killed at any moment leaves finished chunks and at most one temporary
file, which is ignored and removed on resume: never a half-written chunk.
"""

from __future__ import annotations

import bisect
import concurrent.futures as cf
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
from tqdm.auto import tqdm

from ._validation import check_seed
from ._version import __version__
from .exceptions import AccordWarning, FormatError, StoreMismatchError
from .executors import _parse
from .problem import Problem
from .simulation import (
    DEFAULT_CHUNK_SIZE,
    Simulations,
    _check_options,
    _check_size,
    _Chunk,
    _nonfinite_message,
    _nonfinite_rows,
    _Plan,
    _raise_nonfinite,
    _run_chunks,
)

__all__ = ["SimulationStore", "simulate_to_store"]

logger = logging.getLogger(__name__)

_FORMAT = "accord-simulation-store"
_FORMAT_VERSION = 1
_METADATA = "store.json"
_CHUNK = re.compile(r"chunk-(\d+)\.h5")
_FAILED = "failed_simulations.csv"




@dataclass(frozen=True)
class _ChunkInfo:
    """What the attributes of one chunk file say."""

    index: int
    n_rows: int
    n_dropped: int
    n_nonfinite: int
    seed: str


class SimulationStore:
    """Simulations on disk, one HDF5 file per chunk, readable while they grow.

    Make one with :meth:`create` or fill one with
    :func:`accord.simulate_to_store`; open an existing one with :meth:`open`.
    Rows are numbered over the finished chunks in chunk order; once the store
    is :attr:`complete` they are the rows of :func:`accord.simulate` with the
    same seed, ``n`` and ``chunk_size``.

    Examples
    --------
    >>> import tempfile
    >>> from accord import SimulationStore, simulate_to_store
    >>> from accord.linear import LinearGaussian
    >>> problem = LinearGaussian.paper(n_data=10, seed=3).problem()
    >>> folder = tempfile.TemporaryDirectory()
    >>> store = simulate_to_store(problem, 250, folder.name, seed=1, chunk_size=100)
    >>> len(store), store.complete, store.chunk_bounds
    (250, True, [(0, 100), (100, 200), (200, 250)])
    >>> store.read(90, 110).x_A.shape
    (20, 10)
    >>> SimulationStore.open(folder.name).metadata["n"]
    250
    >>> folder.cleanup()
    """

    def __init__(self, path: Path, metadata: dict[str, Any]) -> None:
        self.path = path
        self._metadata = metadata
        self._plan = _Plan.from_dict(metadata["n"], metadata["chunk_size"],
                                     metadata["seed"])
        self._chunks: dict[int, _ChunkInfo] = {}
        for file in sorted(path.glob("chunk-*.h5")):
            match = _CHUNK.fullmatch(file.name)
            if match:
                info = _read_info(file)
                if info.index != int(match[1]) or info.index >= self._plan.n_chunks \
                        or json.loads(info.seed) != json.loads(self._seed_attr(info.index)):
                    raise FormatError(f"{file} does not belong to the store in {path} "
                                      f"(another chunk or seed); delete the file to "
                                      f"simulate that chunk again")
                self._chunks[info.index] = info
        self._refresh()

    # Making and opening.

    @classmethod
    def create(cls, path: str | os.PathLike, problem: Problem, n: int, *,
               seed: int | np.random.SeedSequence | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE) -> SimulationStore:
        """An empty store in the directory ``path`` for ``n`` simulations of ``problem``.

        The directory is made if needed; one that already holds a store is
        refused. ``seed=None`` draws fresh entropy, recorded in the store.
        """
        _check_size(n, chunk_size)
        plan = _Plan.from_seed(int(n), int(chunk_size), check_seed(seed))
        path = Path(path)
        if (path / _METADATA).exists() or any(path.glob("chunk-*.h5")):
            raise FileExistsError(
                f"{path} already holds a simulation store; open it with "
                f"SimulationStore.open, resume it with simulate_to_store, or choose "
                f"another directory")
        path.mkdir(parents=True, exist_ok=True)

        to_dict = getattr(problem.prior, "to_dict", None)
        metadata = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "accord_version": __version__,
            "problem": problem.name,
            "names": list(problem.names),
            "prior": to_dict() if callable(to_dict) else None,
            "fingerprint": problem.fingerprint(),
            "n": plan.n,
            "chunk_size": plan.chunk_size,
            "n_chunks": plan.n_chunks,
            "seed": plan.seed_dict(),
            "length_A": problem.length_A,
            "length_B": problem.length_B,
        }
        _write_atomic(path / _METADATA, json.dumps(metadata, indent=1).encode())
        logger.info("created a simulation store for %d simulations in %s", plan.n, path)
        return cls(path, json.loads((path / _METADATA).read_text()))

    @classmethod
    def open(cls, path: str | os.PathLike) -> SimulationStore:
        """The store in the directory ``path``, finished or not."""
        path = Path(path)
        file = path / _METADATA
        if not file.is_file():
            raise FileNotFoundError(f"{path} holds no simulation store (no {_METADATA})")
        try:
            metadata = json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise FormatError(f"{file} is not readable JSON ({error})") from error
        if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
            raise FormatError(f"{file} does not describe an accord simulation store")
        if metadata.get("format_version") != _FORMAT_VERSION:
            raise FormatError(
                f"{file} is of store format {metadata.get('format_version')}; this "
                f"accord ({__version__}) reads format {_FORMAT_VERSION}")
        missing = {"names", "fingerprint", "n", "chunk_size", "seed"} - set(metadata)
        if missing:
            raise FormatError(f"{file} lacks {sorted(missing)}; it was truncated or "
                              f"edited")
        return cls(path, metadata)

    # What it holds.

    def __len__(self) -> int:
        return self._bounds[-1] if self._bounds else 0

    def __repr__(self) -> str:
        return (f"SimulationStore({str(self.path)!r}, rows={len(self)}, "
                f"chunks={len(self._chunks)}/{self.n_chunks}, complete={self.complete})")

    @property
    def metadata(self) -> dict[str, Any]:
        """What was simulated (a copy of ``store.json``)."""
        return json.loads(json.dumps(self._metadata))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._metadata["names"])

    @property
    def n(self) -> int:
        """Simulations asked for (fewer are stored when rows were dropped)."""
        return self._plan.n

    @property
    def chunk_size(self) -> int:
        return self._plan.chunk_size

    @property
    def n_chunks(self) -> int:
        return self._plan.n_chunks

    @property
    def complete(self) -> bool:
        """Whether every chunk is finished."""
        return len(self._chunks) == self._plan.n_chunks

    @property
    def missing(self) -> list[int]:
        """Indices of the chunks not finished yet."""
        return [i for i in range(self._plan.n_chunks) if i not in self._chunks]

    @property
    def chunk_bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` rows of each finished chunk, in row order."""
        return list(zip(self._bounds[:-1], self._bounds[1:]))

    @property
    def n_dropped(self) -> int:
        """Rows dropped for non-finite values (``on_nonfinite="drop"``)."""
        return sum(info.n_dropped for info in self._chunks.values())

    @property
    def n_nonfinite(self) -> int:
        """Stored rows with a NaN or infinity in ``x_A`` or ``x_B``."""
        return sum(info.n_nonfinite for info in self._chunks.values())

    @property
    def length_A(self) -> int | None:
        """Length L_A of ``x_A``; None while unknown (no check, no chunk)."""
        return self._length("length_A", "x_A")

    @property
    def length_B(self) -> int | None:
        """Length L_B of ``x_B``; None while unknown (no check, no chunk)."""
        return self._length("length_B", "x_B")

    def _length(self, key: str, dataset: str) -> int | None:
        if self._metadata.get(key) is not None:
            return int(self._metadata[key])
        if not self._order:
            return None
        with h5py.File(self._file(self._order[0]), "r") as file:
            return int(file[dataset].shape[1])

    # Reading.

    def read(self, start: int, stop: int) -> Simulations:
        """Rows ``start:stop``, reading only the chunk files that hold them.

        Returns
        -------
        Simulations
            ``theta (stop - start, P)``, ``x_A (stop - start, L_A)``,
            ``x_B (stop - start, L_B)``, float64 as simulated.
        """
        for label, value in (("start", start), ("stop", stop)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{label} must be an integer; got {value!r}")
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"rows {start}:{stop} are outside the {len(self)} rows "
                             f"stored in {self.path}")

        parts = []
        first = max(bisect.bisect_right(self._bounds, start) - 1, 0)
        for k in range(first, len(self._order)):
            lo, hi = self._bounds[k], self._bounds[k + 1]
            if lo >= stop:
                break
            a, b = max(start, lo) - lo, min(stop, hi) - lo
            if b > a:
                parts.append(self._read_chunk(self._order[k], slice(a, b)))
        if not parts:
            return self._empty()
        theta, x_A, x_B = (np.concatenate([p[j] for p in parts]) for j in range(3))
        return Simulations(theta, x_A, x_B)

    def load(self) -> Simulations:
        """Every stored row; ``n_dropped`` counts the rows dropped."""
        sims = self.read(0, len(self))
        sims.n_dropped = self.n_dropped
        return sims

    def iter_chunks(self) -> Iterator[tuple[int, Simulations]]:
        """``(start, simulations)`` of each finished chunk, in row order."""
        for k, index in enumerate(self._order):
            theta, x_A, x_B = self._read_chunk(index, slice(None))
            sims = Simulations(theta, x_A, x_B)
            sims.n_dropped = self._chunks[index].n_dropped
            yield self._bounds[k], sims

    def _read_chunk(self, index: int,
                    rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with h5py.File(self._file(index), "r") as file:
            return file["theta"][rows], file["x_A"][rows], file["x_B"][rows]

    def _empty(self) -> Simulations:
        return Simulations(np.empty((0, len(self.names))),
                           np.empty((0, self.length_A or 0)),
                           np.empty((0, self.length_B or 0)))

    # Writing.

    def _file(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.h5"

    def _seed_attr(self, index: int) -> str:
        """The seed sequence of chunk ``index``, as its file records it."""
        seed = self._plan.seed(index)
        return json.dumps({"entropy": self._plan.entropy,
                           "spawn_key": list(seed.spawn_key),
                           "pool_size": seed.pool_size})

    def _refresh(self) -> None:
        self._order = sorted(self._chunks)
        self._bounds = [0]
        for index in self._order:
            self._bounds.append(self._bounds[-1] + self._chunks[index].n_rows)
        if not self._order:
            self._bounds = []

    def _write(self, chunk: _Chunk, on_nonfinite: str) -> None:
        """Write a finished chunk, dropping non-finite rows if asked."""
        bad_A, bad_B = _nonfinite_rows(chunk.x_A, chunk.x_B)
        bad = bad_A | bad_B
        theta, x_A, x_B = chunk.theta, chunk.x_A, chunk.x_B
        if on_nonfinite == "drop" and bad.any():
            theta, x_A, x_B = theta[~bad], x_A[~bad], x_B[~bad]
        start, stop = self._plan.rows(chunk.index)
        attrs = {
            "index": chunk.index,
            "rows": [start, stop],
            "seed": self._seed_attr(chunk.index),
            "n_dropped": int(bad.sum()) if on_nonfinite == "drop" else 0,
            "n_nonfinite": 0 if on_nonfinite == "drop" else int(bad.sum()),
            "n_nonfinite_A": int(bad_A.sum()),
            "n_nonfinite_B": int(bad_B.sum()),
        }
        self._write_file(chunk.index, theta, x_A, x_B, attrs)

    def _write_file(self, index: int, theta: np.ndarray, x_A: np.ndarray,
                    x_B: np.ndarray, attrs: dict[str, Any]) -> None:
        final = self._file(index)
        temporary = final.with_name(final.name + ".tmp")
        with h5py.File(temporary, "w") as file:
            for name, data in (("theta", theta), ("x_A", x_A), ("x_B", x_B)):
                file.create_dataset(name, data=np.asarray(data, dtype=np.float64))
            file.attrs.update(attrs)
        _replace_durably(temporary, final)
        self._chunks[index] = _read_info(final)
        self._refresh()

    def _drop_stored_nonfinite(self) -> None:
        """Drop non-finite rows kept by an earlier run that raised on them."""
        for index in [i for i in self._order if self._chunks[i].n_nonfinite]:
            with h5py.File(self._file(index), "r") as file:
                data = [file[name][:] for name in ("theta", "x_A", "x_B")]
                attrs = dict(file.attrs)
            bad_A, bad_B = _nonfinite_rows(data[1], data[2])
            keep = ~(bad_A | bad_B)
            attrs["n_dropped"] = int(attrs["n_dropped"]) + int((~keep).sum())
            attrs["n_nonfinite"] = 0
            self._write_file(index, data[0][keep], data[1][keep], data[2][keep], attrs)

    def _nonfinite_counts(self) -> tuple[int, int]:
        """Rows, kept or dropped, where simulate_A and simulate_B failed."""
        counts = np.zeros(2, dtype=int)
        for index in self._order:
            with h5py.File(self._file(index), "r") as file:
                counts += [int(file.attrs["n_nonfinite_A"]),
                           int(file.attrs["n_nonfinite_B"])]
        return int(counts[0]), int(counts[1])

    def check_problem(self, problem: Problem) -> None:
        """Raise :class:`~accord.StoreMismatchError` unless this store was made
        for ``problem`` (same parameter names, prior and simulators)."""
        self._check_same(problem, None)

    def _check_same(self, problem: Problem, plan: _Plan | None) -> None:
        """Raise StoreMismatchError unless this store is for ``problem`` and ``plan``."""
        stored = self._metadata
        differences = []
        fingerprint = json.loads(json.dumps(problem.fingerprint()))
        labels = {"names": "parameter names", "params_A": "params_A",
                  "params_B": "params_B", "prior": "prior",
                  "probe": "simulators (their output at fixed parameters and seed)"}
        for key, label in labels.items():
            old, new = stored["fingerprint"].get(key), fingerprint.get(key)
            if _canonical(old) != _canonical(new):
                differences.append(f"the {label} (stored {_short(old)}, "
                                   f"now {_short(new)})")
        if plan is not None:
            for label, old, new in (("n", self._plan.n, plan.n),
                                    ("chunk_size", self._plan.chunk_size,
                                     plan.chunk_size),
                                    ("seed", _seed_text(self._plan), _seed_text(plan))):
                if _canonical(old) != _canonical(new):
                    differences.append(f"{label} (stored {_short(old)}, "
                                       f"now {_short(new)})")
        if differences:
            raise StoreMismatchError(
                f"{self.path} holds simulations made with another setup; what "
                f"differs: {'; '.join(differences)}. Simulate into another "
                f"directory, or delete {self.path} to start afresh.")


def _read_info(file: Path) -> _ChunkInfo:
    try:
        with h5py.File(file, "r") as handle:
            attrs = handle.attrs
            return _ChunkInfo(int(attrs["index"]), int(handle["theta"].shape[0]),
                              int(attrs["n_dropped"]), int(attrs["n_nonfinite"]),
                              str(attrs["seed"]))
    except (OSError, KeyError) as error:
        raise FormatError(f"{file} is not a readable chunk of a simulation store "
                          f"({error}); delete it to simulate that chunk again") from error


def _seed_text(plan: _Plan) -> Any:
    """The seed as the user gave it, when that was a plain integer."""
    seed = plan.seed_dict()
    if seed["spawn_key"] or seed["first_child"] or seed["pool_size"] != 4:
        return seed
    return seed["entropy"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value: Any, limit: int = 160) -> str:
    text = _canonical(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some systems
        return
    try:
        os.fsync(descriptor)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(descriptor)


def _replace_durably(temporary: Path, final: Path) -> None:
    """Rename a finished file into place, durable across a crash of the machine."""
    _fsync(temporary)
    os.replace(temporary, final)
    _fsync(final.parent, directory=True)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    _replace_durably(temporary, path)


def simulate_to_store(
    problem: Problem,
    n: int,
    path: str | os.PathLike,
    *,
    seed: int | np.random.SeedSequence | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    executor: cf.Executor | str = "auto",
    retries: int = 2,
    on_nonfinite: Literal["raise", "drop"] = "raise",
    progress: bool = False,
) -> SimulationStore:
    """Simulate ``n`` concordant pairs into a store on disk, resuming what is there.

    Each chunk is written as soon as it is finished; run again after a crash
    or a kill, the call simulates only the missing chunks. The stored numbers
    are those of ``simulate(problem, n, seed=seed, chunk_size=chunk_size)``,
    bit for bit, whatever the executor and however the run was interrupted.

    Parameters
    ----------
    problem : Problem
    n : int
        Number of pairs.
    path : path
        Directory of the store; made if missing.
    seed : int or SeedSequence, optional
        With an existing store, None continues with the store's own seed.
    chunk_size : int
        Rows per chunk: the unit of seeding, of parallel work and of what a
        crash can lose.
    executor : concurrent.futures.Executor or str
        An executor, or a specification for
        :func:`accord.executors.executor_from_spec` (``"processes:8"``,
        ``"dask://HOST:PORT"``, ``"mpi"``...). ``"auto"`` (default) times the
        first chunk and uses a local process pool when that pays.
    retries : int
        How many times a chunk is submitted again when its worker dies. A
        process pool made here is replaced when a death breaks it. A chunk
        whose simulator raises is not retried.
    on_nonfinite : {"raise", "drop"}
        Rows where a simulator returned NaN or infinity: by default they are
        stored, their parameters written to ``failed_simulations.csv`` in the
        store, and :class:`~accord.NonFiniteSimulationError` raised once all
        chunks are written. ``"drop"`` removes them from each chunk (also from
        chunks stored by an earlier run), records the counts and warns.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SimulationStore
        The complete store.

    Raises
    ------
    StoreMismatchError
        When ``path`` holds a store of another problem, prior, seed, ``n`` or
        ``chunk_size``.
    SimulationFailedError
        When the simulator raised on a chunk or a worker died too often. The
        finished chunks stay in the store for the next call.

    Notes
    -----
    One run at a time may write to a store. The store grows one chunk file at
    a time; ``chunk_size`` rows of work are lost at most per running chunk.
    """
    _check_size(n, chunk_size)
    _check_options(on_nonfinite, retries)
    seed = check_seed(seed)
    if isinstance(executor, str):
        if executor not in ("serial", "auto"):
            _parse(executor)
    elif not isinstance(executor, cf.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a "
                        f"specification string; got {type(executor).__name__}")
    path = Path(path)

    # Open or create.
    if (path / _METADATA).exists():
        store = SimulationStore.open(path)
        if seed is None:
            plan = _Plan.from_dict(int(n), int(chunk_size), store._plan.seed_dict())
        else:
            plan = _Plan.from_seed(int(n), int(chunk_size), seed)
        store._check_same(problem, plan)
        for stray in path.glob("*.tmp"):
            logger.info("removing %s, left by an interrupted run", stray)
            stray.unlink(missing_ok=True)
    else:
        store = SimulationStore.create(path, problem, n, seed=seed, chunk_size=chunk_size)

    # Simulate the missing chunks.
    todo = store.missing
    if todo and len(todo) < store.n_chunks:
        logger.info("resuming %s: %d of %d chunks to simulate", path, len(todo),
                    store.n_chunks)
    done = store.n - sum(stop - start for start, stop in map(store._plan.rows, todo))
    with tqdm(total=store.n, initial=done, desc="simulate", unit="sim",
              disable=not progress) as bar:
        def write(chunk: _Chunk) -> None:
            store._write(chunk, on_nonfinite)
            bar.update(len(chunk.theta))

        hint = (f". The finished chunks are in {path}; calling simulate_to_store "
                f"again resumes from them")
        _run_chunks(problem, store._plan, todo, executor, retries=retries,
                    on_chunk=write, hint=hint)

    # Rows with NaN or infinity.
    if on_nonfinite == "drop":
        store._drop_stored_nonfinite()
        if store.n_dropped:
            message = _nonfinite_message(store.n_dropped, store.n,
                                         *store._nonfinite_counts())
            logger.warning("%s; dropped as asked (on_nonfinite='drop')", message)
            warnings.warn(f"{message}; dropped as asked", AccordWarning, stacklevel=2)
    elif store.n_nonfinite:
        theta, counts = [], np.zeros(2, dtype=int)
        for index in [i for i in store._order if store._chunks[i].n_nonfinite]:
            chunk_theta, x_A, x_B = store._read_chunk(index, slice(None))
            bad_A, bad_B = _nonfinite_rows(x_A, x_B)
            theta.append(chunk_theta[bad_A | bad_B])
            counts += [bad_A.sum(), bad_B.sum()]
        message = _nonfinite_message(store.n_nonfinite, store.n, *map(int, counts))
        _raise_nonfinite(store.names, np.concatenate(theta), message, path)
    return store
