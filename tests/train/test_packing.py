import pytest
import torch

from sphinx_x.model.sphinx import IGNORE_INDEX
from sphinx_x.train.packing import collate_packed, pack_rows


@pytest.fixture
def samples(toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    return [toy_processor.encode(c, i) for c, i in zip(conversations, images, strict=True)]


def test_rows_are_filled_first_fit_decreasing_and_never_overflow():
    assert pack_rows([5, 3, 4, 2, 6]) == [[0, 1, 2, 3, 4]]  # the default: one row
    assert pack_rows([5, 3, 4, 2, 6], row_length=6) == [[4], [0], [2, 3], [1]]  # rows of the longest sample
    assert pack_rows([5, 3, 4, 2, 6], row_length=10) == [[4, 2], [0, 1, 3]]
    rows = pack_rows(lengths := [7, 1, 9, 3, 3, 8, 2], row_length=10)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 10 for row in rows)


def test_packed_row_gives_each_sample_its_own_logits_and_the_same_loss(toy_model, toy_processor, samples):
    lengths = [len(sample.input_ids) for sample in samples]
    packed = collate_packed(samples, toy_processor, row_length=sum(lengths))
    assert packed["input_ids"].shape == (1, sum(lengths)) and "attention_mask" not in packed
    with torch.no_grad():
        output = toy_model(**packed)
        order = pack_rows(lengths, sum(lengths))[0]
        start = 0
        for index in order:  # each sample alone, no padding: the reference
            alone = toy_model(**toy_processor.collate([samples[index]]))
            end = start + lengths[index]
            torch.testing.assert_close(output.logits[0, start:end], alone.logits[0], rtol=1e-5, atol=1e-5)
            start = end
        padded = toy_model(**toy_processor.collate(samples, padding_side="right"))
    assert output.supervised_tokens == padded.supervised_tokens
    torch.testing.assert_close(output.loss, padded.loss, rtol=1e-5, atol=1e-6)


def test_without_restarting_positions_samples_would_see_each_other(toy_model, toy_processor, samples):
    """The check above can fail: one causal sequence over the row changes every later sample."""
    lengths = [len(sample.input_ids) for sample in samples]
    packed = collate_packed(samples, toy_processor, row_length=sum(lengths))
    first = pack_rows(lengths, sum(lengths))[0][0]
    with torch.no_grad():
        blended = toy_model(**(packed | {"position_ids": torch.arange(sum(lengths))[None]}))
        alone = toy_model(**toy_processor.collate([samples[pack_rows(lengths, sum(lengths))[0][1]]]))
    second = blended.logits[0, lengths[first] : lengths[first] + alone.logits.shape[1]]
    assert not torch.allclose(second, alone.logits[0], atol=1e-3)


def test_packing_keeps_the_skip_token_savings_and_every_label(toy_model, toy_processor, samples):
    packed = collate_packed(samples, toy_processor, row_length=10_000)
    seen = []
    toy_model.vision_experts.convnext.register_forward_hook(
        lambda _m, args, _o: seen.append(args[0].shape[0])
    )
    with torch.no_grad():
        toy_model(**packed)
    assert seen == [3 + 3]  # the two images still skip 2 of their 4 sub-images
    assert packed["views_skipped"].sum() == 4 and packed["has_image"].sum() == 2
    supervised = sorted(label for sample in samples for label in sample.labels if label != IGNORE_INDEX)
    assert sorted(packed["labels"][packed["labels"] != IGNORE_INDEX].tolist()) == supervised


def test_padding_at_a_row_end_is_a_segment_of_its_own(toy_model, toy_processor, samples):
    lengths = [len(sample.input_ids) for sample in samples]
    packed = collate_packed(samples, toy_processor, max(lengths))  # rows of the longest: some end padded
    assert packed["input_ids"].shape[0] > 1
    with torch.no_grad():
        output = toy_model(**packed)
        for row, members in enumerate(pack_rows(lengths, max(lengths))):
            start = 0
            for index in members:
                alone = toy_model(**toy_processor.collate([samples[index]]))
                end = start + lengths[index]
                torch.testing.assert_close(
                    output.logits[row, start:end], alone.logits[0], rtol=1e-5, atol=1e-5
                )
                start = end
            assert (packed["labels"][row, start:] == IGNORE_INDEX).all()
            assert packed["position_ids"][row, start:].tolist() == list(
                range(packed["input_ids"].shape[1] - start)
            )


def test_a_packed_run_logs_the_losses_of_the_padded_run(data, tmp_path, uninterrupted):
    """The trainer with `data.packing`: same samples per micro-batch, so the same step losses."""
    from sphinx_x.train.config import TrainConfig
    from sphinx_x.train.trainer import Trainer, read_losses

    from .records import toy_config

    config = toy_config(data, tmp_path / "packed", checkpoint_every=100)
    config["data"] |= {"packing": True, "pack_length": 256}
    Trainer(TrainConfig.from_dict(config)).train()
    packed, padded = read_losses(tmp_path / "packed"), read_losses(uninterrupted)
    assert packed.keys() == padded.keys() and len(padded) == 8
    for step in padded:
        assert packed[step] == pytest.approx(padded[step], rel=1e-4), step
