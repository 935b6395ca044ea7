"""Request dependencies as Annotated aliases: SessionDep, CurrentUser, CurrentAccount, AdminUser,
SettingsDep, RuntimeDep, ImpressionRecorderDep, RankingSlotsDep.

The dependencies that only read application state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, a thread hop per dependency per request. The session and the
caller's account row are `async def` too: opening a session does no I/O, and one primary-key
select costs less than the hop (CurrentUser, an ORM object, stays in the pool)."""

from __future__ import annotations

import asyncio
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
    return request.app.state.runtime


async def get_cache_dep(request: Request) -> RecommendationCache:
    return request.app.state.recommendation_cache


async def get_impression_recorder(request: Request) -> ImpressionRecorder:
    return request.app.state.impressions


async def get_ranking_slots(request: Request) -> asyncio.Semaphore:
    return request.app.state.ranking_slots


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RuntimeDep = Annotated[RecommenderRuntime, Depends(get_runtime_dep)]
CacheDep = Annotated[RecommendationCache, Depends(get_cache_dep)]
ImpressionRecorderDep = Annotated[ImpressionRecorder, Depends(get_impression_recorder)]
RankingSlotsDep = Annotated[asyncio.Semaphore, Depends(get_ranking_slots)]


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


def get_current_user(db: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    claims = _claims(token, settings)
    user = db.get(User, claims.user_id)
    _check_login(user, claims)
    return user


async def get_current_account(db: SessionDep, settings: SettingsDep, token: TokenDep) -> Account:
    """The caller as a plain row (id, rights, token and ratings versions), on the event loop."""
    claims = _claims(token, settings)
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
