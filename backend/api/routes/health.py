import os

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.api.deps import RuntimeDep, SessionDep
from backend.observability import render_metrics

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict:
    return {"status": "ok"}


@router.get("/ready")
def ready(db: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    checks = {}
    try:
        db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    runtime.maybe_reload()
    checks["models"] = runtime.bundle.version if runtime.bundle else "not loaded"
    checks["embedding_index"] = runtime.index.version if runtime.index else "not built"
    # Why this version: "current", or the fallback and its cause (a quarantined or missing one).
    checks["models_source"] = runtime.model_store.status.reason
    checks["embedding_index_source"] = runtime.index_store.store.status.reason
    checks["worker_pid"] = os.getpid()
    ok = checks["database"] == "ok" and runtime.bundle is not None
    return JSONResponse(
        status_code=200 if ok else 503,
        content={"status": "ready" if ok else "not ready", "checks": checks},
    )


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(render_metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")
