from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.observability import LOGIN_FAILURES
from backend.schemas.auth import Token, UserCreate, UserOut
from backend.security import create_access_token
from backend.services import users as user_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def register(payload: UserCreate, db: SessionDep, settings: SettingsDep) -> UserOut:
    if len(payload.password) < settings.password_min_length:
        raise HTTPException(
            422, detail=f"password: must be at least {settings.password_min_length} characters"
        )
    user = user_service.create_user(db, payload.username, payload.email, payload.password)
    return UserOut.model_validate(user)


@router.post("/login", response_model=Token)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: SessionDep,
    settings: SettingsDep,
) -> Token:
    if "\x00" in form.username or "\x00" in form.password:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="username and password must not contain NUL characters",
        )
    throttle = request.app.state.login_throttle
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{form.username.lower()}", f"client:{client}")
    wait = throttle.retry_after(*keys)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = user_service.authenticate(db, form.username, form.password)
    if user is None:
        throttle.record_failure(*keys)
        LOGIN_FAILURES.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.record_success(keys[0])
    token = create_access_token(user.id, settings.secret_key, settings.access_token_expire_minutes)
    return Token(access_token=token)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
