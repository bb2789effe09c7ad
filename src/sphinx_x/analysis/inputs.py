"""What the analyses run the model over, grouped into named domains.

    records.jsonl             one domain, named after the file; images under --image-root (default: its folder)
    mixture.yaml (or its folder)   one domain per source (its name, else its type): the demo's held-out
                              folder gives one domain per task family (vision, vqa, ocr, ...)
    a benchmark's files       with `benchmark`: its reader's items, one domain, or one per value of an
                              item field (`group_by`, e.g. MME's `subtask`)

A record is run whole (question and answer, teacher-forced: every token the model reads); a
benchmark item is its prompt. Records that cannot be read are counted in `BadRecords`, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from ..data.records import BadRecords, Source, read_mixture, read_records
from ..processing.conversation import ConversationError, to_messages


@dataclass(frozen=True)
class Sample:
    conversation: list  # turns, any format the processor takes
    image: Path | bytes | None
    where: str  # "file:line" or the benchmark item's id, for reports


def read_domains(
    path: str | Path,
    bad: BadRecords,
    benchmark=None,
    image_root: str | Path | None = None,
    group_by: str | None = None,
    limit: int | None = None,
) -> dict[str, list[Sample]]:
    """Domain name -> its first `limit` samples (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or folder (expected records, a mixture or benchmark files)"
        )
    if benchmark is not None:
        return benchmark_domains(benchmark, path, group_by, limit)
    if group_by is not None:
        raise ValueError(
            "--group-by applies to a benchmark's items (give --benchmark); records group by source"
        )
    return {
        name: list(islice(samples, limit)) for name, samples in record_domains(path, bad, image_root).items()
    }


def record_domains(path: Path, bad: BadRecords, image_root) -> dict[str, list[Sample]]:
    if path.is_dir():
        path = path / "mixture.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"{path.parent}: no mixture.yaml (give a records file or a mixture)")
    if path.suffix in (".yaml", ".yml"):
        sources = [(source.name or source.type, source) for source in read_mixture(path)]
    else:
        sources = [(path.stem, Source(str(path), str(image_root or path.parent)))]
    domains: dict[str, list[Sample]] = {}
    for name, source in sources:
        records = read_records(source, bad)
        domains.setdefault(name, []).extend(Sample(r.conversations, r.image, r.where) for r in records)
    return domains


def benchmark_domains(
    benchmark, path: Path, group_by: str | None, limit: int | None
) -> dict[str, list[Sample]]:
    domains: dict[str, list[Sample]] = {}
    for item in benchmark.read(path):
        name = str(item.reference.get(group_by)) if group_by else benchmark.name
        if group_by and group_by not in item.reference:
            raise ValueError(
                f"--group-by {group_by}: {benchmark.name} items carry {', '.join(item.reference)}, not {group_by}"
            )
        samples = domains.setdefault(name, [])
        if limit is None or len(samples) < limit:
            samples.append(Sample([{"role": "user", "content": item.prompt}], item.image, item.id))
    return domains


def gather_domains(
    data: str | Path | None,
    named: list[tuple[str, str | Path]],
    bad: BadRecords,
    only: list[str] | None = None,
    **options,
) -> dict[str, list[Sample]]:
    """The domains of `data` (see `read_domains`), plus one domain per (name, path) of `named` (all
    of that path's samples), restricted to `only` when given. `options` as `read_domains` takes."""
    if not data and not named:
        raise ValueError("give --data PATH and / or --domain NAME=PATH")
    domains = read_domains(data, bad, **options) if data else {}
    for name, path in named:
        samples = [sample for found in read_domains(path, bad, **options).values() for sample in found]
        domains[name] = domains.get(name, []) + samples
    return select_domains(domains, only) if only else domains


def select_domains(domains: dict[str, list[Sample]], names: list[str]) -> dict[str, list[Sample]]:
    """Only the named domains, in that order (the paper's Figure 5: MME's artwork, celebrity, OCR)."""
    missing = [name for name in names if name not in domains]
    if missing:
        raise ValueError(f"--only {','.join(missing)}: no such domain; the inputs have {', '.join(domains)}")
    return {name: domains[name] for name in names}


def ends_with_answer(sample: Sample) -> bool:
    """A record whose last turn is the assistant's is run whole; otherwise up to the answer prompt.
    (A malformed conversation has no answer; encoding it reports why.)"""
    try:
        messages = to_messages(sample.conversation)
    except ConversationError:
        return False
    return bool(messages) and messages[-1].role == "assistant"


def encoded_batches(processor, samples: Iterable[Sample], bad: BadRecords, batch_size: int) -> Iterator[dict]:
    """Right-padded batches with labels; a sample that cannot be encoded (its image, its turns) is
    counted in `bad` and skipped."""
    encoded = []
    for sample in samples:
        try:
            encoded.append(processor.encode(sample.conversation, sample.image, not ends_with_answer(sample)))
        except ValueError as error:  # ImageLoadError, ConversationError, SampleTooLongError are ValueErrors
            bad.add(sample.where, f"{type(error).__name__}: {error}")
            continue
        if len(encoded) == batch_size:
            yield processor.collate(encoded)
            encoded = []
    if encoded:
        yield processor.collate(encoded)
