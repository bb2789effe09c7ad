from sphinx_x.data.records import BadRecords, Source, read_mixture, read_records
from sphinx_x.train.data import RecordDataset, epoch_records, global_batches, shard_of

from .records import write_dataset


def test_mixture_and_records_with_bad_lines(tmp_path, toy_processor):
    files = write_dataset(tmp_path)
    sources = read_mixture(files["mixture"])
    assert [(s.name, s.type, s.weight) for s in sources] == [
        ("colours", "vision", 1.0),
        ("sums", "language", 1.0),
    ]
    bad = BadRecords()
    vision = read_records(sources[0], bad)
    assert len(vision) == 18 and bad.counts == {"malformed JSON line": 1}
    assert bad.reasons[f"{files['vision']}:17"].startswith("malformed JSON line")
    dataset = RecordDataset(vision, toy_processor)
    where, reason = dataset[16]
    assert where.endswith("vision.jsonl:18") and reason.startswith("bad image:") and "nowhere.png" in reason
    where, reason = dataset[17]
    assert reason.startswith("bad conversation:") or reason.startswith("NothingToSuperviseError")
    assert read_records(sources[1], bad)[0].type == "language"


def test_global_batches_hold_one_type_sorted_by_length(tmp_path):
    files = write_dataset(tmp_path, bad=False)
    loaded = [(source, read_records(source, BadRecords())) for source in read_mixture(files["mixture"])]
    records = epoch_records(loaded, epoch=0, seed=0)
    batches = global_batches(records, 4, seed=0, epoch=0, by_type=True)
    assert sorted(i for b in batches for i in b) == list(range(32))
    for batch in batches:
        assert len({records[i].type for i in batch}) == 1
        lengths = [records[i].approx_length() for i in batch]
        assert lengths == sorted(lengths)
    assert batches == global_batches(records, 4, seed=0, epoch=0, by_type=True)  # seeded
    assert batches != global_batches(records, 4, seed=1, epoch=0, by_type=True)


def test_every_process_count_sees_the_same_global_batch():
    batch = list(range(8))
    assert sorted(shard_of(batch, 0, 2) + shard_of(batch, 1, 2)) == batch
    assert shard_of(batch, 0, 1) == batch


def test_sampling_weights(tmp_path):
    files = write_dataset(tmp_path, bad=False)
    vision, language = read_mixture(files["mixture"])
    loaded = [
        (Source(vision.path, vision.image_root, 0.5, "vision"), read_records(vision, BadRecords())),
        (Source(language.path, language.image_root, 2.0, "language"), read_records(language, BadRecords())),
    ]
    chosen = epoch_records(loaded, epoch=0, seed=0)
    # Weight 2: every record twice. Weight 0.5: each record with probability 1/2, by a seeded hash.
    assert sum(r.type == "language" for r in chosen) == 32
    assert 3 <= sum(r.type == "vision" for r in chosen) <= 13
    assert [r.where for r in chosen] == [r.where for r in epoch_records(loaded, epoch=0, seed=0)]
    assert [r.where for r in chosen] != [r.where for r in epoch_records(loaded, epoch=1, seed=0)]


def test_sequence_lengths_count_visual_tokens_from_the_image_header(tmp_path, toy_processor):
    from PIL import Image

    from sphinx_x.data.records import Record
    from sphinx_x.train.data import sequence_lengths

    Image.new("RGB", (64, 64)).save(tmp_path / "square.png")
    Image.new("RGB", (128, 32)).save(tmp_path / "wide.png")
    turns = [{"from": "human", "value": "abcd" * 5}, {"from": "gpt", "value": "abcd" * 5}]
    records = [
        Record(turns, tmp_path / name, "vision", name) for name in ("square.png", "wide.png", "gone.png")
    ]
    records.append(Record(turns, None, "language", "text"))
    square, wide, gone, text = sequence_lengths(records, toy_processor)
    assert text == gone == 10  # 40 characters; a missing image counts as text only (reported later)
    assert square == 10 + toy_processor.visual_token_count(64, 64) == 10 + 95
    assert wide == 10 + toy_processor.visual_token_count(128, 32) == 10 + 59  # two sub-images skipped
