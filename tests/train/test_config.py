"""Training configs: coerced or refused on construction, paths relative to the file, saved as run."""

import pytest
import yaml

from sphinx_x.train.config import TrainConfig
from sphinx_x.typed_config import ConfigError, ConfigWarning


def test_numbers_written_as_strings_are_coerced_by_field_type():
    config = TrainConfig.from_dict({"optim": {"lr": "2e-5", "global_batch_size": "1e3", "betas": ["0.9", 0.95]},
                                    "run": {"max_steps": 10.0, "epochs": 2}})  # fmt: skip
    assert config.optim.lr == 2e-5 and isinstance(config.optim.lr, float)
    assert config.optim.global_batch_size == 1000 and isinstance(config.optim.global_batch_size, int)
    assert config.optim.betas == (0.9, 0.95) and config.run.max_steps == 10 and config.run.epochs == 2.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"run": {"dtype": "bf16"}}, "run.dtype: must be one of bfloat16, float16, float32, got 'bf16'"),
        ({"run": {"epochs": 0}}, "run.epochs: must be > 0, got 0.0"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number, got 'fast'"),
        ({"optim": {"micro_batch_size": 2.5}}, "optim.micro_batch_size: expected a whole number, got 2.5"),
        ({"optim": {"global_batch_size": -4}}, "optim.global_batch_size: must be > 0, got -4"),
        ({"optim": {"betas": [0.9]}}, r"optim.betas: expected 2 values, got \[0.9\]"),
        ({"optim": {"betas": [0.9, 1.5]}}, r"optim.betas: each must be in \[0, 1\)"),
        ({"data": {"by_type": "yes"}}, "data.by_type: expected true or false, got 'yes'"),
        ({"data": {"records": "a.jsonl"}}, "data.records: expected a list, got 'a.jsonl'"),
        ({"run": {"out": 3}}, "run.out: expected a string, got 3"),
        ({"optim": {"lr_max": 1}}, r"unknown field\(s\) \['lr_max'\] in 'optim'"),
        ({"training": {}}, r"unknown section\(s\) \['training'\]"),
        ({"run": [1, 2]}, "section 'run' must be a mapping"),
    ],
)
def test_nonsense_is_refused_with_the_field_and_what_was_expected(content, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(content)


def test_ignored_fields_are_warned_about():
    with pytest.warns(ConfigWarning, match="data.records is ignored: data.mixture is given"):
        TrainConfig.from_dict({"data": {"mixture": "m.yaml", "records": ["a.jsonl"]}})
    with pytest.warns(ConfigWarning, match="model.llm / convnext / dinov2 is ignored: model.path is given"):
        TrainConfig.from_dict({"model": {"path": "folder", "llm": "TinyLlama/TinyLlama-1.1B"}})


def test_paths_in_a_file_are_relative_to_it_and_set_values_to_the_shell(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {"mixture": "../data/mix.yaml"}, "run": {"out": "runs/a"},
                                    "model": {"llm": "TinyLlama/TinyLlama-1.1B-Chat"}}))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    config = TrainConfig.from_yaml(path, overrides=["run.max_steps=5", "optim.lr=3e-4", "data.num_workers=0"])
    assert config.data.mixture == str(tmp_path / "data" / "mix.yaml")
    assert config.run.out == str(tmp_path / "configs" / "runs" / "a")
    assert config.model.llm == "TinyLlama/TinyLlama-1.1B-Chat"  # no such local path: a Hub model id
    assert (config.run.max_steps, config.optim.lr, config.data.num_workers) == (5, 3e-4, 0)
    with pytest.raises(ConfigError, match=r"--set 'run.max_steps': expected SECTION.FIELD=VALUE"):
        TrainConfig.from_yaml(path, overrides=["run.max_steps"])
    with pytest.raises(ConfigError, match="--set 'runs.out=x': unknown section 'runs'"):
        TrainConfig.from_yaml(path, overrides=["runs.out=x"])
    path.write_text("run: {out: [")
    with pytest.raises(ConfigError, match="run.yaml: not valid YAML"):
        TrainConfig.from_yaml(path)
