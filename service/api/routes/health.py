from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.auth import Principal, optional_principal
from service.api.deps import StateDep
from service.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
def health(state: StateDep, principal: Annotated[Principal | None, Depends(optional_principal)]) -> HealthResponse:
    """Models (loaded or not, and why) and collections with their counts.

    Open to all (for load balancer and container probes); when API keys are configured, collections are
    listed only for a caller with a valid key, and only those it may use.
    """
    return state.health(principal.can_access if principal is not None else lambda name: False)
