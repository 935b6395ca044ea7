# syntax=docker/dockerfile:1
# CPU build by default; `--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128` for CUDA.
FROM python:3.11-slim AS base

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data HF_HUB_OFFLINE=1 TORCH_HOME=/data/torch HOST=0.0.0.0 PORT=8000

RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY backend ./backend
COPY alembic ./alembic
COPY scripts ./scripts
RUN pip install --extra-index-url "$TORCH_INDEX" torch==2.14.1 torchvision==0.29.1 \
    && pip install .
# What `make install` does after installing: the text model's ONNX export and int8 quantisation,
# made once into the image (/usr/local/share/movierec/onnx, readable by the app user), so the
# worker's index builds run from it without importing PyTorch.
RUN python -c "from backend.ml import text_encoder; text_encoder.export_at_install()"

RUN useradd --create-home --uid 10001 app && mkdir -p /data && chown app /data
USER app
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD curl -fsS http://127.0.0.1:8000/ready || exit 1

# Migrations run on start; uvicorn gets its limits from Settings (`backend.cli api`). Jobs run in
# the worker service of docker-compose.yml (`python -m backend.cli worker`), never in the API.
CMD ["sh", "-c", "python -m backend.cli prepare && exec python -m backend.cli api"]
