# hpscout developer commands. `make setup` once, then `make demo` / `make test`.
PY := .venv/bin/python
PIP := .venv/bin/pip

.PHONY: setup system-deps demo test test-fast lint bench docs

setup:  ## virtual environment with the CPU build of torch and every extra
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[hf,viz,postgres,dev]"

system-deps:  ## PostgreSQL server and headless Chromium for the full test suite (Debian/Ubuntu, as root)
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium chromium-driver

demo:  ## the main job: MiniLM + LoRA on SST-2, the embedded default example
	.venv/bin/hpscout run examples/sst2-minilm-lora.yaml

test:  ## every test, slow ones (real fine-tuning, PostgreSQL, Chromium) included
	$(PY) -m pytest -q -p no:cacheprovider

test-fast:  ## skip the slow tests
	$(PY) -m pytest -q -m "not slow"

lint:  ## ruff + mypy
	.venv/bin/ruff check src tests bench scripts
	.venv/bin/mypy

bench:  ## every benchmark (see docs/benchmarks.md)
	$(PY) -m bench

docs:
	$(PY) scripts/gen_config_docs.py
