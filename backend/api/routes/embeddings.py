from fastapi import APIRouter

from backend.api.deps import CurrentUser, RuntimeDep, SessionDep
from backend.services.embeddings import index_status

router = APIRouter(prefix="/embeddings", tags=["embeddings"])


@router.get("/status")
def status(db: SessionDep, _: CurrentUser, runtime: RuntimeDep) -> dict:
    return index_status(db, runtime)
