"""Fixtures shared by the training tests: the toy dataset and one uninterrupted run, written once
per session (each training run in a child process costs seconds; several tests compare with it)."""

from pathlib import Path

import pytest

from .records import toy_config, write_dataset
from .runs import run_cli


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(root)
    return root


@pytest.fixture(scope="session")
def uninterrupted(data, tmp_path_factory) -> Path:
    """The folder of a one-process run of `toy_config` that nothing interrupts: the reference run
    (8 steps, checkpoints every 2, the last two kept, the model exported)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = run_cli(toy_config(data, folder / "run"), folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "run"
