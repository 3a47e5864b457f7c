from fastapi import APIRouter

from service.api.deps import StateDep
from service.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
def health(state: StateDep) -> HealthResponse:
    """Models (loaded or not, and why) and collections with their counts."""
    return state.health()
