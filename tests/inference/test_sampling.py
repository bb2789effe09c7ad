import pytest
import torch

from sphinx_x.inference.sampling import DecodingSettings, RequestSampler, sample_rows


@pytest.mark.parametrize(
    "field, value", [("max_new_tokens", 0), ("temperature", -0.5), ("top_p", 0.0), ("top_p", 1.5)]
)
def test_settings_refuse_values_that_mean_nothing(field, value):
    with pytest.raises(ValueError, match=field):
        DecodingSettings(**{field: value})


def test_each_row_is_chosen_by_its_own_sampler_and_never_the_excluded_id():
    logits = torch.tensor([[0.0, 5.0, 9.0, 1.0], [3.0, 2.0, 8.0, 0.0]])
    greedy = RequestSampler(DecodingSettings(temperature=0))
    seeded = RequestSampler(DecodingSettings(temperature=1.0, top_p=1.0, seed=4))
    first = sample_rows(logits.clone(), [greedy, seeded], never=[2])
    assert first[0] == 1 and first[1] != 2  # id 2 is every row's argmax, yet never chosen
    again = sample_rows(
        logits.clone(), [greedy, RequestSampler(DecodingSettings(temperature=1.0, top_p=1.0, seed=4))], [2]
    )
    assert again == first  # the same seed draws the same token


def test_unseeded_samplers_follow_torchs_global_seed():
    torch.manual_seed(5)
    first = RequestSampler(DecodingSettings(temperature=1.0)).generator.initial_seed()
    torch.manual_seed(5)
    assert RequestSampler(DecodingSettings(temperature=1.0)).generator.initial_seed() == first
