# Two commands for a new user: `make install && make run` starts the service; `make test` tests it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Where a local copy of the evaluation data lives (this workplace keeps it beside the project):
# when present and nothing else is configured, `make run` imports the catalogue from it.
SHARED_DATA ?= ../shared/data
ifneq ($(wildcard $(SHARED_DATA)/movielens/ml-latest-small/movies.csv),)
CATALOG_DIR ?= $(SHARED_DATA)/movielens/ml-latest-small
CATALOG_METADATA_CSV ?= $(SHARED_DATA)/overviews/ml-latest-small_tmdb/movies_enriched.csv
CATALOG_POSTERS_DIRS ?= $(SHARED_DATA)/posters/ml-latest-small_tmdb_w185,$(SHARED_DATA)/posters/ml-latest-small_gapfill_by_movieId
export CATALOG_DIR CATALOG_METADATA_CSV CATALOG_POSTERS_DIRS
endif

.PHONY: install install-cpu run test test-postgres lint format setup-embeddings monitor benchmark \
	benchmark-docs evaluate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel setuptools

# The text model's ONNX export and int8 quantisation, made once at install (20-40 s) into the
# venv: every index build after it runs from the export without importing PyTorch.
EXPORT_TEXT_MODEL = $(BIN)/python -c "from backend.ml import text_encoder; \
	text_encoder.export_at_install()"

install: $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	$(EXPORT_TEXT_MODEL)

# The API (uvicorn, WEB_CONCURRENCY workers) and the job worker, started and stopped together.
run: $(BIN)/python
	$(BIN)/python -m backend.cli prepare
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m backend.cli run

test: $(BIN)/python
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the same suite against $$TEST_DATABASE_URL"; \
		$(BIN)/python -m pytest --ignore=tests/e2e; \
	fi

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

setup-embeddings:
	$(BIN)/python scripts/setup_embeddings.py

monitor:
	$(BIN)/python scripts/monitor_embeddings.py

# CPU-only PyTorch for machines without an NVIDIA GPU: the default (PyPI) torch wheel is a CUDA
# build that pulls about 4 GB of nvidia-* and triton packages the CPU never uses.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
install-cpu: $(BIN)/python
	$(BIN)/pip install --index-url $(TORCH_CPU_INDEX) torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -e '.[dev]'
	$(EXPORT_TEXT_MODEL)

# Figures go to docs/performance/results.json; `make benchmark-docs` renders docs/performance.md.
BENCHMARKS ?= http in_process cache_replay text_index first_answer retrain_small
benchmark:
	$(BIN)/python scripts/benchmark.py $(BENCHMARKS)

benchmark-docs:
	$(BIN)/python scripts/benchmark.py --write-docs

evaluate:
	$(BIN)/python scripts/evaluate.py --data-dir $(SHARED_DATA) --dataset ml-100k --out docs/evaluation/ml-100k.json --report-dir docs/evaluation
	$(BIN)/python scripts/evaluate.py --data-dir $(SHARED_DATA) --dataset ml-latest-small --sections temporal,cold_users --index-dir data/embeddings --out docs/evaluation/ml-latest-small.json --report-dir docs/evaluation
