# The two commands of the README. Each creates .venv on first use (scripts/bootstrap.sh).
VENV := .venv/bin

.PHONY: demo test bootstrap lint

bootstrap:
	@bash scripts/bootstrap.sh

# The main job on the embedded default: no downloads, no GPU. Writes demo-out/report.html.
demo: bootstrap
	$(VENV)/sphinx-x demo --out demo-out

lint: bootstrap
	$(VENV)/ruff check src tests benchmarks
	$(VENV)/ruff format --check src tests benchmarks

test: lint
	$(VENV)/python -m pytest
