"""The package is light to import, and the names a user needs are at its top."""

import subprocess
import sys
import time

import pytest

import sphinx_x


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    return set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )


@pytest.mark.parametrize(
    "statement",
    ["import sphinx_x", "import sphinx_x.cli", "import sphinx_x.cli; sphinx_x.cli.build_parser()"],
)
def test_importing_the_package_and_the_cli_loads_neither_torch_nor_transformers(statement):
    modules = imported_after(statement)
    assert "sphinx_x" in modules and not {"torch", "transformers", "gradio"} & modules


def test_help_starts_at_once():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "sphinx_x.cli", "--help"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "chat" in result.stdout and "train" in result.stdout
    assert elapsed < 3.0, f"sphinx-x --help took {elapsed:.2f} s"  # about 0.3 s here; generous for loaded CI


def test_top_level_names_load_on_first_use():
    assert callable(sphinx_x.load_model) and sphinx_x.SphinxXProcessor.__name__ == "SphinxXProcessor"
    assert set(sphinx_x.__all__) >= {
        "load_model",
        "SphinxXProcessor",
        "generate",
        "ChatSession",
        "DecodingSettings",
    }
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sphinx_x.nope  # noqa: B018
