# The two commands of the README. Each creates .venv on first use (scripts/bootstrap.sh).
VENV := .venv/bin

.PHONY: demo test bootstrap lint

bootstrap:
	@bash scripts/bootstrap.sh

# The main job on the embedded default: no downloads, no GPU.
demo: bootstrap
	$(VENV)/sphinx-x info sphinx-x-tiny --image 1000x500
	$(VENV)/sphinx-x chat --image examples/shapes.png --seed 0 --max-new-tokens 48 "What is in the image?"

lint: bootstrap
	$(VENV)/ruff check src tests benchmarks
	$(VENV)/ruff format --check src tests benchmarks

test: lint
	$(VENV)/python -m pytest
