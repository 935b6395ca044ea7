"""Request dependencies as Annotated aliases: SessionDep, CurrentUser, CurrentAccount, AdminUser,
SettingsDep, RuntimeDep, ServingDep.

The dependencies that only read application state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, a thread hop per dependency per request. The session and the
caller's account row are `async def` too: opening a session does no I/O, and one primary-key
select costs less than the hop (CurrentUser, an ORM object, stays in the pool).

Each dependency costs FastAPI's solver tens of microseconds a request, about as much as the
account read: the token check takes the settings from the `Request` rather than as a dependency
of its own, and the recommendations route takes the application state it needs as one
`Serving` object (ServingDep) rather than four dependencies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.database import get_db
from backend.models import User
from backend.security import TokenClaims, TokenError, decode_access_token
from backend.services.cache import RecommendationCache
from backend.services.impressions import ImpressionRecorder
from backend.services.recommender_runtime import RecommenderRuntime
from backend.services.users import Account, find_account

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_runtime_dep(request: Request) -> RecommenderRuntime:
    return request.app.state.serving.runtime


@dataclass(frozen=True)
class Serving:
    """The application state a recommendations request uses (made by the app's lifespan)."""

    runtime: RecommenderRuntime
    cache: RecommendationCache
    impressions: ImpressionRecorder
    # At most RANKING_CONCURRENCY misses rank at once; made on the serving event loop.
    ranking_slots: asyncio.Semaphore


async def get_serving(request: Request) -> Serving:
    return request.app.state.serving


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RuntimeDep = Annotated[RecommenderRuntime, Depends(get_runtime_dep)]
ServingDep = Annotated[Serving, Depends(get_serving)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def _claims(token: str | None, settings: Settings) -> TokenClaims:
    if not token:
        raise _unauthorized("Not authenticated: send an Authorization: Bearer <token> header")
    try:
        return decode_access_token(token, settings.secret_key)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc


def _check_login(user: User | Account | None, claims: TokenClaims) -> None:
    """Read from the database on every request, so a revocation (token version bump) or a
    disabled login takes effect on the next request in every process."""
    if user is None or not user.can_login:
        raise _unauthorized("Could not validate credentials")
    if user.token_version != claims.token_version:
        raise _unauthorized("Token has been revoked: log in again")


def get_current_user(db: SessionDep, token: TokenDep, request: Request) -> User:
    claims = _claims(token, request.app.state.settings)
    user = db.get(User, claims.user_id)
    _check_login(user, claims)
    return user


async def get_current_account(db: SessionDep, token: TokenDep, request: Request) -> Account:
    """The caller as a plain row (id, rights, token and ratings versions), on the event loop."""
    claims = _claims(token, request.app.state.settings)
    account = find_account(db, claims.user_id)
    _check_login(account, claims)
    return account


CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentAccount = Annotated[Account, Depends(get_current_account)]


def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Administrator rights required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
