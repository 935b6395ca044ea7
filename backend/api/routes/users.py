from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.api.deps import CurrentUser, SessionDep
from backend.api.presenters import movie_model
from backend.schemas.movies import UserRatingOut
from backend.services import ratings as rating_service
from backend.services import users as user_service
from backend.services.ratings import RatingSort

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me/ratings", response_model=list[UserRatingOut])
def my_ratings(
    db: SessionDep,
    user: CurrentUser,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    sort: RatingSort = "date_desc",
) -> list[UserRatingOut]:
    rows = rating_service.list_user_ratings(db, user.id, skip=skip, limit=limit, sort=sort)
    return [
        UserRatingOut(movie=movie_model(r.movie), rating=r.rating, timestamp=r.timestamp)
        for r in rows
    ]


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
def delete_me(db: SessionDep, user: CurrentUser) -> None:
    """Delete the account and its ratings; its tokens stop working."""
    user_service.delete_user(db, user)
