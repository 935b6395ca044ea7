from fastapi import APIRouter, status

from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.schemas.events import EventIn, EventOut
from backend.services import feedback as feedback_service

router = APIRouter(prefix="/events", tags=["feedback"])


@router.post("", response_model=EventOut, status_code=status.HTTP_201_CREATED)
def record_event(
    payload: EventIn, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> EventOut:
    """A click, detail view or dismissal of a movie in a list identified by its request id."""
    event = feedback_service.record_event(
        db,
        user,
        payload.request_id,
        payload.movie_id,
        payload.kind,
        grace_seconds=2 * settings.impression_flush_seconds + 1.0,
    )
    return EventOut.model_validate(event)
