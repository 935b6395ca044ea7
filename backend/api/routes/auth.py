from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.observability import LOGIN_FAILURES
from backend.schemas.auth import PasswordChange, Token, UserCreate, UserOut
from backend.security import create_access_token, password_problem
from backend.services import users as user_service
from backend.services.rate_limit import RateLimiter

router = APIRouter(prefix="/auth", tags=["auth"])


def _client_address(request: Request) -> str:
    """The TCP peer, or the forwarded client when the peer is a trusted proxy (uvicorn applies
    X-Forwarded-For only from FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def _too_many(wait: int, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"Too many {what}; try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


def _check_new_password(password: str, settings: SettingsDep) -> None:
    if len(password) < settings.password_min_length:
        raise HTTPException(
            422, detail=f"password: must be at least {settings.password_min_length} characters"
        )
    problem = password_problem(password)
    if problem:
        raise HTTPException(422, detail=f"password: {problem}")


def _token(user, settings: SettingsDep) -> Token:  # noqa: ANN001
    return Token(
        access_token=create_access_token(
            user.id, settings.secret_key, settings.access_token_expire_minutes, user.token_version
        )
    )


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def register(
    request: Request, payload: UserCreate, db: SessionDep, settings: SettingsDep
) -> UserOut:
    limiter: RateLimiter = request.app.state.rate_limiter
    key = f"register:{_client_address(request)}"
    wait = limiter.blocked_for(key)
    if wait:
        raise _too_many(wait, "sign-ups from this address")
    limiter.hit(
        key,
        settings.registrations_per_address,
        settings.registration_window_seconds,
        settings.registration_window_seconds,
    )
    _check_new_password(payload.password, settings)
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
    limiter: RateLimiter = request.app.state.rate_limiter
    address = _client_address(request)
    # Keyed by (username, address): guesses from elsewhere never lock the owner out; the
    # per-address budget stops one address trying many names.
    pair, per_address = f"login:{form.username.lower()}|{address}", f"login-address:{address}"
    wait = limiter.blocked_for(pair, per_address)
    if wait:
        raise _too_many(wait, "failed logins")
    user = user_service.authenticate(db, form.username, form.password)
    if user is None:
        window, lockout = settings.login_failure_window_seconds, settings.login_lockout_seconds
        limiter.hit(pair, settings.login_max_failures, window, lockout)
        limiter.hit(per_address, settings.login_address_max_failures, window, lockout)
        LOGIN_FAILURES.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.reset(pair)
    return _token(user, settings)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/password", response_model=Token)
def change_password(
    payload: PasswordChange, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Token:
    """Set a new password; every token issued before stops working, a fresh one is returned."""
    _check_new_password(payload.new_password, settings)
    user = user_service.change_password(db, user, payload.current_password, payload.new_password)
    return _token(user, settings)
