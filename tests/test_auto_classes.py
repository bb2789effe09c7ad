"""After `import sphinx_x`, transformers' own entry points know SPHINX-X folders, whatever was imported
first. Each case runs in a fresh interpreter: registration is per process."""

import subprocess
import sys
import textwrap

import pytest
from PIL import Image

SAVE_TOY = """
import torch, sphinx_x
torch.manual_seed(0)
model, processor = sphinx_x.load_model("sphinx-x-toy")
model.save_pretrained(FOLDER); processor.save_pretrained(FOLDER)
"""

USE_WITH_TRANSFORMERS = """
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, pipeline
config, processor = AutoConfig.from_pretrained(FOLDER), AutoProcessor.from_pretrained(FOLDER)
model = AutoModelForImageTextToText.from_pretrained(FOLDER).eval()
print(type(config).__name__, type(processor).__name__, type(model).__name__)
question = [{"role": "user", "content": [{"type": "image", "url": IMAGE}, {"type": "text", "text": "What is it?"}]}]
inputs = processor.apply_chat_template(question, tokenize=True, return_dict=True)
generated = model.generate(**inputs, max_new_tokens=6, do_sample=False)
print("generate:", repr(processor.decode_answer(generated[0, inputs["input_ids"].shape[1]:])))
import sphinx_x
ours = sphinx_x.generate(model, processor.tokenizer, inputs, sphinx_x.DecodingSettings(6, temperature=0))[0]
print("sphinx_x:", repr(ours))
answer = pipeline("image-text-to-text", model=FOLDER)(text=question, max_new_tokens=6, do_sample=False)
print("pipeline:", repr(answer[0]["generated_text"][-1]["content"].strip()))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    run(SAVE_TOY, folder, folder / "x.png")
    Image.new("RGB", (64, 32), (200, 10, 10)).save(folder / "x.png")
    return folder


def run(code: str, folder, image) -> str:
    code = f"FOLDER, IMAGE = {str(folder)!r}, {str(image)!r}\n" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize(
    "first",
    [
        "import sphinx_x",
        "import transformers; from transformers import ConvNextModel, AutoConfig; import sphinx_x",
    ],
)
def test_auto_classes_generate_and_pipeline(folder, first):
    lines = run(first + "\n" + USE_WITH_TRANSFORMERS, folder, folder / "x.png").splitlines()
    assert lines[0] == "SphinxXConfig SphinxXProcessor SphinxXForConditionalGeneration"
    answers = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[1:]}
    assert answers["generate"] == answers["sphinx_x"] != "''"  # transformers' generate == ours, greedy
    assert eval(answers["pipeline"]) == eval(answers["sphinx_x"]).strip()
