from fastapi import APIRouter, BackgroundTasks, status

from backend.api.deps import AdminUser, RuntimeDep
from backend.jobs.tasks import rebuild_index_job, retrain_models_job

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/models/svd/retrain", status_code=status.HTTP_202_ACCEPTED)
def retrain(_: AdminUser, runtime: RuntimeDep, tasks: BackgroundTasks) -> dict:
    tasks.add_task(retrain_models_job, runtime)
    return {
        "detail": "Retraining started in the background",
        "current_version": runtime.bundle.version if runtime.bundle else None,
    }


@router.post("/embeddings/rebuild", status_code=status.HTTP_202_ACCEPTED)
def rebuild(_: AdminUser, runtime: RuntimeDep, tasks: BackgroundTasks) -> dict:
    tasks.add_task(rebuild_index_job, runtime)
    return {
        "detail": "Index rebuild started in the background",
        "current_version": runtime.index.version if runtime.index else None,
    }
