"""Request dependencies as Annotated aliases: SessionDep, CurrentUser, AdminUser, SettingsDep,
RuntimeDep, ImpressionRecorderDep.

The dependencies that only read application state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, a thread hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.database import get_db
from backend.models import User
from backend.security import TokenError, decode_access_token
from backend.services.cache import RecommendationCache
from backend.services.impressions import ImpressionRecorder
from backend.services.recommender_runtime import RecommenderRuntime

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_runtime_dep(request: Request) -> RecommenderRuntime:
    return request.app.state.runtime


async def get_cache_dep(request: Request) -> RecommendationCache:
    return request.app.state.recommendation_cache


async def get_impression_recorder(request: Request) -> ImpressionRecorder:
    return request.app.state.impressions


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RuntimeDep = Annotated[RecommenderRuntime, Depends(get_runtime_dep)]
CacheDep = Annotated[RecommendationCache, Depends(get_cache_dep)]
ImpressionRecorderDep = Annotated[ImpressionRecorder, Depends(get_impression_recorder)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_current_user(
    db: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise _unauthorized("Not authenticated: send an Authorization: Bearer <token> header")
    try:
        claims = decode_access_token(token, settings.secret_key)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    user = db.get(User, claims.user_id)
    if user is None or not user.can_login:
        raise _unauthorized("Could not validate credentials")
    if user.token_version != claims.token_version:
        raise _unauthorized("Token has been revoked: log in again")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Administrator rights required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
