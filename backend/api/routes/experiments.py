from typing import Annotated

from fastapi import APIRouter, Path, status

from backend.api.deps import AdminUser, SessionDep, SettingsDep
from backend.schemas.experiments import ExperimentIn, ExperimentOut
from backend.services import experiment_report
from backend.services import experiments as experiment_service

router = APIRouter(prefix="/admin/experiments", tags=["experiments"])

ExperimentName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@router.post("", response_model=ExperimentOut, status_code=status.HTTP_201_CREATED)
def create(payload: ExperimentIn, db: SessionDep, _: AdminUser) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment_service.create(db, payload))


@router.get("", response_model=list[ExperimentOut])
def list_experiments(db: SessionDep, _: AdminUser) -> list[ExperimentOut]:
    return [ExperimentOut.model_validate(e) for e in experiment_service.list_all(db)]


@router.get("/{name}", response_model=ExperimentOut)
def get(name: ExperimentName, db: SessionDep, _: AdminUser) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment_service.get(db, name))


@router.post("/{name}/start", response_model=ExperimentOut)
def start(name: ExperimentName, db: SessionDep, _: AdminUser) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment_service.start(db, name))


@router.post("/{name}/stop", response_model=ExperimentOut)
def stop(name: ExperimentName, db: SessionDep, _: AdminUser) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment_service.stop(db, name))


@router.get("/{name}/report")
def report(name: ExperimentName, db: SessionDep, _: AdminUser, settings: SettingsDep) -> dict:
    return experiment_report.build_report(db, name, settings.attribution_window_hours)
