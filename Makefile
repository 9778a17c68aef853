# The two commands of the README's quick start, plus the benchmarks and the documentation site.
.PHONY: setup serve test bench eval docs

export HF_HUB_OFFLINE := 1

setup:
	./scripts/setup

serve: setup
	.venv/bin/qa serve

test: setup
	.venv/bin/python -m pytest

eval: setup
	.venv/bin/qa eval --docs ../shared/eval/cmrc2018_dev/docs --queries ../shared/eval/cmrc2018_dev/queries_public.jsonl --index benchmarks/results/idx-cmrc2018_dev
	.venv/bin/qa eval --docs ../shared/eval/drcd_dev/docs --queries ../shared/eval/drcd_dev/queries_public.jsonl --index benchmarks/results/idx-drcd_dev
	.venv/bin/qa eval --docs ../shared/eval/cmrc2018_dev/docs --queries benchmarks/xling/cmrc2018_dev.en.jsonl --index benchmarks/results/idx-cmrc2018_dev
	.venv/bin/qa eval --docs ../shared/eval/drcd_dev/docs --queries benchmarks/xling/drcd_dev.en.jsonl --index benchmarks/results/idx-drcd_dev
	.venv/bin/python benchmarks/xling_corpus.py
	.venv/bin/qa eval --docs benchmarks/results/xling-mixed/docs --queries benchmarks/xling/zh_over_en.jsonl --index benchmarks/results/idx-xling-mixed

bench: setup
	.venv/bin/python benchmarks/bench_model.py

# The documentation site (docs/, mkdocs.yml) into site/. --strict: a broken link, a missing anchor or a page
# left out of the nav fails the build; the settings table must match qa/config.py.
docs: setup
	.venv/bin/python scripts/settings_table.py --check docs/configuration.md
	.venv/bin/mkdocs build --strict --site-dir site
