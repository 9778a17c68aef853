# The two commands of the README's quick start, plus the benchmarks and the documentation site.
.PHONY: setup serve lint test test-fast bench eval docs

export HF_HUB_OFFLINE := 1

setup:
	./scripts/setup

serve: setup
	.venv/bin/qa serve

# Static checks, run by make test before the suite (so CI runs them too): ruff's rules and format, and mypy --strict
# on qa/, both configured in pyproject.toml. mypy keeps its cache in .mypy_cache/: a rerun takes seconds.
LINTED := qa tests benchmarks scripts
lint: setup
	.venv/bin/ruff check $(LINTED)
	.venv/bin/ruff format --check $(LINTED)
	.venv/bin/mypy

test: lint
	.venv/bin/python -m pytest

# The pre-commit tier: everything but the tests marked slow (docs/development.md, "Test tiers"); it still loads
# the real model once, for the tests marked model.
test-fast: lint
	.venv/bin/python -m pytest -m "not slow"

# Quality on the test halves (the learned parts were fit on the dev halves): each set's questions over its own
# corpus, with the other set's questions as unanswerable ones (docs/answers.md explains every column).
CMRC := ../shared/eval/cmrc2018_dev
DRCD := ../shared/eval/drcd_dev
EVAL := .venv/bin/qa eval --split test
eval: setup
	$(EVAL) --docs $(CMRC)/docs --queries $(CMRC)/queries_public.jsonl --unanswerable $(DRCD)/queries_public.jsonl --index benchmarks/results/idx-cmrc2018_dev
	$(EVAL) --docs $(DRCD)/docs --queries $(DRCD)/queries_public.jsonl --unanswerable $(CMRC)/queries_public.jsonl --index benchmarks/results/idx-drcd_dev
	$(EVAL) --docs $(CMRC)/docs --queries benchmarks/xling/cmrc2018_dev.en.jsonl --unanswerable benchmarks/xling/drcd_dev.en.jsonl --index benchmarks/results/idx-cmrc2018_dev
	$(EVAL) --docs $(DRCD)/docs --queries benchmarks/xling/drcd_dev.en.jsonl --unanswerable benchmarks/xling/cmrc2018_dev.en.jsonl --index benchmarks/results/idx-drcd_dev
	.venv/bin/python benchmarks/xling_corpus.py
	$(EVAL) --docs benchmarks/results/xling-mixed/docs --queries benchmarks/xling/zh_over_en.jsonl --index benchmarks/results/idx-xling-mixed
	QA_TRANSLATE_QUESTIONS=false $(EVAL) --docs benchmarks/results/xling-mixed/docs --queries benchmarks/xling/zh_over_en.jsonl --index benchmarks/results/idx-xling-mixed
	.venv/bin/python benchmarks/xling_questions.py

bench: setup
	.venv/bin/python benchmarks/bench_model.py

# The documentation site (docs/, mkdocs.yml) into site/. --strict: a broken link, a missing anchor or a page
# left out of the nav fails the build; the settings table must match qa/config.py.
docs: setup
	.venv/bin/python scripts/settings_table.py --check docs/configuration.md
	.venv/bin/mkdocs build --strict --site-dir site
