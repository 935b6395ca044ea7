"""The recommendations route's per-request work outside the ranking stays small."""

from __future__ import annotations

from fastapi.routing import APIRoute

from backend.api.routes.movies import router


def _dependencies(dependant) -> list:  # noqa: ANN001
    return [d for sub in dependant.dependencies for d in (sub, *_dependencies(sub))]


def test_the_recommendations_route_solves_few_dependencies():
    """FastAPI solves every dependency of a request (tens of microseconds each, about as much
    as the account read): the session, the caller (and its bearer token) and the serving
    state, nothing else."""
    route = next(
        r for r in router.routes if isinstance(r, APIRoute) and r.path.endswith("/recommendations")
    )
    names = sorted(
        getattr(d.call, "__name__", type(d.call).__name__) for d in _dependencies(route.dependant)
    )
    assert names == sorted(
        ["get_db", "get_current_account", "get_db", "OAuth2PasswordBearer", "get_serving"]
    ), names
