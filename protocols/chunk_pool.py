"""Processing a raw extract's chunks, in this process or in a pool of worker processes.

Each chunk is validated, normalised and (when sealing) encoded into an Arrow table by a
``ChunkProcessor``. With more than one worker, chunks go to separate processes (started
with "spawn": no inherited threads or file handles) and come back in file order, with at
most two chunks per worker in flight so memory stays bounded. The partnership secret
reaches a worker only through the in-memory pipe that starts it; nothing is written.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from protocols.agreements import Agreement, Partnership
from protocols.encoding import ExtractEncoder
from protocols.keys import PartnershipKey
from protocols.rawfile import RawBlock, parse_block
from protocols.validation import ChunkResult, RowValidator


@dataclass(frozen=True)
class ProcessorSpec:
    """Everything a process needs to handle chunks of one extract."""

    path: Path
    header: tuple[str, ...]
    agreement: Agreement
    partnership: Partnership
    extract_date: dt.date
    date_format: str | Mapping[str, str]  # one for every date column, or one per column
    secret: bytes | None = field(default=None, repr=False)  # None: validate only


@dataclass
class ProcessedChunk:
    result: ChunkResult  # with ``clean`` emptied once encoded
    table: pa.Table | None


class ChunkProcessor:
    def __init__(self, spec: ProcessorSpec) -> None:
        self.validator = RowValidator(spec.path, list(spec.header), spec.agreement, spec.extract_date,
                                      spec.date_format)
        self.encoder = None
        if spec.secret is not None:
            self.encoder = ExtractEncoder(PartnershipKey(spec.secret), spec.partnership, spec.agreement,
                                          spec.extract_date)

    def __call__(self, block: RawBlock) -> ProcessedChunk:
        result = self.validator.check(parse_block(block))
        table = None
        if self.encoder is not None:
            table = self.encoder.encode(result.clean)
            result.clean = None
        return ProcessedChunk(result, table)


_PROCESSOR: ChunkProcessor | None = None


def _start_worker(spec: ProcessorSpec) -> None:
    global _PROCESSOR
    _PROCESSOR = ChunkProcessor(spec)


def _process(block: RawBlock) -> ProcessedChunk:
    assert _PROCESSOR is not None
    return _PROCESSOR(block)


def process_chunks(spec: ProcessorSpec, blocks: Iterable[RawBlock], workers: int) -> Iterator[ProcessedChunk]:
    """Yield processed blocks in file order, using ``workers`` processes when above one."""
    if workers <= 1:
        processor = ChunkProcessor(spec)
        for block in blocks:
            yield processor(block)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(spec,)) as pool:
        pending: deque = deque()
        try:
            for block in blocks:
                pending.append(pool.submit(_process, block))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
