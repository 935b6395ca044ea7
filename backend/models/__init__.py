"""SQLAlchemy 2.0 typed models. Alembic owns the schema (see alembic/versions)."""

from backend.models.base import Base
from backend.models.experiment import Experiment, ExperimentVariant
from backend.models.feedback import FeedbackEvent, Impression, ImpressionItem
from backend.models.job import Job
from backend.models.movie import Movie
from backend.models.rate_limit import RateLimitCounter
from backend.models.rating import Rating
from backend.models.user import User

__all__ = [
    "Base",
    "Experiment",
    "ExperimentVariant",
    "FeedbackEvent",
    "Impression",
    "ImpressionItem",
    "Job",
    "Movie",
    "RateLimitCounter",
    "Rating",
    "User",
]
