"""Download a chat's latest plan as a zip: Helm, kustomize, compose and SkyPilot files."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from agents.artifacts.bundle import zip_bundle
from agents.schemas import DeploymentPlan
from api.deps import LimitedUser, Runtime
from api.openapi import errors
from api.routes.chat import _CALLER, _NOT_FOUND, _runs, _thread_id

router = APIRouter(prefix="/api/v1", tags=["chat"])


@router.get(
    "/chat/{conversation_id}/plan.zip",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The plan's files.",
        },
        **errors(*_CALLER, 404),
    },
)
async def download_plan(conversation_id: str, user: LimitedUser, runtime: Runtime) -> Response:
    """Return the latest plan's files as a zip: one folder per format and a README."""
    thread_id = _thread_id(conversation_id)
    chat = await (await _runs(runtime)).get_chat(user.id, thread_id)
    if chat is None:
        raise HTTPException(404, _NOT_FOUND)
    values = chat.values
    plan = DeploymentPlan.model_validate(values["plan"]) if values.get("plan") else None
    if plan is None or plan.deployment is None:
        raise HTTPException(404, "this chat has no plan with deployment files")
    filename = f"{plan.deployment.name}-plan.zip"
    return Response(
        zip_bundle(plan.deployment),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
