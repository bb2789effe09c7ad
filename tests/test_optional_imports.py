"""torchao loads only when a model is quantized (sphinx_x.optional_imports): plain commands print none of its noise."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from sphinx_x.cli import main
from sphinx_x.loading import load_model
from sphinx_x.train.config import LoraConfig
from sphinx_x.train.lora import apply_lora

main(["chat", "--max-new-tokens", "2", "Hi"])
apply_lora(load_model("sphinx-x-toy", device="cpu")[0], LoraConfig(rank=2), base="nowhere")
print("torchao imported:", "torchao" in sys.modules)
"""


@pytest.mark.slow  # a fresh process importing torch, transformers and peft: about 25 s on 2 shared cores
def test_chat_and_lora_without_quantizing_neither_import_torchao_nor_print_its_noise():
    source = Path(__file__).parents[1] / "src"
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(source), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torchao imported: False" in done.stdout, done.stdout
    noise = [line for line in done.stderr.splitlines() if "torchao" in line or "Enum subclass" in line]
    assert not noise, noise
