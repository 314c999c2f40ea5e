# Template repository tasks. Every target bootstraps what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_VENV := .venv-demo
DEMO_BIN  := $(DEMO_VENV)/bin
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
# Everything slow to make lives outside the clone, so every clone and CI run on a machine reuses
# it: the helm binary, podman's images and layers, the base-image stand-in, and the shared
# virtualenvs of tests/envs.py (keyed by their requirements, so a stale one is never used).
CACHE_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cookiecutter-temporal-extractor
export HELM_CACHE_DIR ?= $(CACHE_HOME)/helm
export CONTAINERS_CACHE_DIR ?= $(CACHE_HOME)/containers
export BASE_IMAGE_CACHE_DIR ?= $(CACHE_HOME)/base-image
export TEMPLATE_TEST_CACHE ?= $(CACHE_HOME)/envs
export TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export TEST_MYSQL_URL ?= mysql://root@127.0.0.1:3306/

.PHONY: test demo bench clean container-test base-image lock

# The test venv installs the exact pins of requirements-dev.lock; `make lock` re-pins it after
# an edit of requirements-dev.txt (tests/test_template_lint.py fails until it is re-pinned).
$(BIN)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.lock
	touch $@

## Re-pin requirements-dev.lock from requirements-dev.txt (every platform, Python 3.11 and up).
lock: $(BIN)/.installed
	$(BIN)/uv pip compile -q --universal --python-version 3.11 requirements-dev.txt -o requirements-dev.lock

## Run every template test: hooks, renderings, each generated app's lint, types and tests.
test: $(BIN)/.installed
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

$(DEMO_BIN)/.installed: requirements-demo.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_BIN)/pip install -q --disable-pip-version-check -r requirements-demo.txt
	touch $@

## Render an app with the default answers and run an end-to-end extraction on the embedded default.
## Installs only cookiecutter and uv (.venv-demo); the app installs itself from its uv.lock.
demo: $(DEMO_BIN)/.installed
	rm -rf demo
	$(DEMO_BIN)/cookiecutter --no-input --output-dir demo .
	PATH="$(CURDIR)/$(DEMO_BIN):$$PATH" $(MAKE) -C demo/catalog-extractor dev

## Benchmark the app end to end against raw catalog queries (PostgreSQL 1k/5k/20k/100k, MariaDB 1k/5k,
## Meltano tap-postgres --discover at 5k).
## Results: benchmarks/results/results.{json,md,png}. Pass options with BENCH_ARGS="--sizes 1000 --repeat 3".
bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py --pg-dsn $(TEST_POSTGRES_URL) --mysql-dsn $(TEST_MYSQL_URL) $(BENCH_ARGS)

## Build the generated app's image with podman (no registry: a local stand-in base image) and run
## 3 worker containers against a dev server, PostgreSQL and an S3 server (tests/test_container.py).
## CONTAINER_TEST_COLD=1 builds without the layer cache. Podman's config and cache: scripts/podman.sh.
container-test: $(BIN)/.installed
	$(BIN)/pytest -q -s tests/test_container.py

## The stand-in base image alone (mmdebstrap, cached under .cache/base-image).
base-image:
	scripts/base-image.sh

clean:
	rm -rf $(VENV) $(DEMO_VENV) demo
