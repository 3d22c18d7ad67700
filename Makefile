# hpscout developer commands. `make setup` once, then `make demo` / `make test`.
PY := .venv/bin/python
PIP := .venv/bin/pip

.PHONY: setup setup-llamafactory system-deps demo test test-fast lint bench docs

setup:  ## virtual environment with the CPU build of torch and every extra
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[hf,viz,postgres,dev]"

LF_PIP := .venv-llamafactory/bin/pip

setup-llamafactory:  ## LLaMA-Factory 0.9.5 (text SFT) in its own venv for task llamafactory; see docs/llamafactory.md
	python3 -m venv .venv-llamafactory
	$(LF_PIP) install -q --upgrade pip
	$(LF_PIP) install -q -r requirements-llamafactory.txt
	$(LF_PIP) install -q --no-deps llamafactory==0.9.5
	# torchaudio's wheel links CUDA libraries a CPU torch lacks; without its extension it imports as pure Python
	.venv-llamafactory/bin/python -c "import torchaudio" 2>/dev/null || rm -f .venv-llamafactory/lib/python3*/site-packages/torchaudio/lib/*.so
	.venv-llamafactory/bin/python -c "import llamafactory.train.tuner" && echo "LLaMA-Factory ready: .venv-llamafactory/bin/python"

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
