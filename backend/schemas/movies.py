from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator


class MovieOut(BaseModel):
    id: int
    title: str
    overview: str
    genres: list[str]
    year: int | None
    release_date: date | None
    poster_url: str
    vote_average: float
    vote_count: int
    popularity: float
    tmdb_id: int | None
    imdb_id: str | None
    movielens_id: int | None


class MovieDetail(MovieOut):
    my_rating: float | None = None


class MoviePage(BaseModel):
    items: list[MovieOut]
    total: int
    skip: int
    limit: int


class RecommendedMovie(MovieOut):
    score: float = Field(description="blend score: only its order means something")
    reason: str
    method: str
    fallback: bool = False
    predicted_rating: float | None = Field(
        None,
        description="the stars (0.5-5) the served SVD model predicts this user would give; "
        "its RMSE is in docs/evaluation; null where the model has no ratings of the movie",
    )


class RatingIn(BaseModel):
    rating: float = Field(ge=0.5, le=5.0, description="0.5 to 5.0 in half steps")

    @field_validator("rating")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if abs(value * 2 - round(value * 2)) > 1e-9:
            raise ValueError("rating must be in half steps (0.5, 1.0, ..., 5.0)")
        return round(value * 2) / 2


class RatingOut(BaseModel):
    movie_id: int
    rating: float
    timestamp: datetime


class UserRatingOut(BaseModel):
    movie: MovieOut
    rating: float
    timestamp: datetime
