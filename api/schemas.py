"""Request and response bodies of the chat and account endpoints, named for their role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The limit is checked in the route (413), not by the schema (which would answer 422).
MAX_MESSAGE_BYTES = 16 * 1024


def _no_nul(value: str | None) -> str | None:
    # Postgres text cannot hold NUL: refuse it here (422) rather than fail in the database.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class ChatStarted(BaseModel):
    """A new, empty chat."""

    conversation_id: str = Field(description="The new chat's id.")
    message: str = Field(description="A greeting to show.")


class MessageCreate(BaseModel):
    """One user message; without a conversation id a new chat is started."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message": "I need to deploy Llama 70B for inference"}]},
    )

    conversation_id: str | None = Field(
        default=None, max_length=64, description="The chat to continue; omit to start one."
    )
    message: str = Field(min_length=1, description="What the user says (16 KB at most).")

    _text = field_validator("conversation_id", "message")(_no_nul)


class ChatTurnPublic(BaseModel):
    """The assistant's answer to one message."""

    conversation_id: str = Field(description="The chat (new when none was given).")
    run_id: str = Field(description="The run that answered; its events can be replayed.")
    response: str = Field(description="Markdown.")
    response_type: Literal["clarification", "deployment_plan", "error"] = Field(
        description="Questions back, a plan, or an error (the response says what went wrong)."
    )
    spec: dict[str, Any] | None = Field(
        default=None, description="The workload as understood (WorkloadSpec)."
    )
    deployment_plan: dict[str, Any] | None = Field(
        default=None, description="The validated DeploymentPlan, for a deployment_plan answer."
    )


class MessagePublic(BaseModel):
    """One message of a chat's history."""

    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(description="The text (Markdown for the assistant).")


class ChatPublic(BaseModel):
    """A chat as listed."""

    conversation_id: str = Field(description="The chat's id.")
    title: str | None = Field(description="Set from the first message, or by a rename.")
    created_at: datetime = Field(description="When the chat was started.")
    updated_at: datetime = Field(description="Its last activity.")


class ChatList(BaseModel):
    """One page of the caller's chats, newest first."""

    items: list[ChatPublic] = Field(description="Chats that have at least one message.")
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class ChatDetail(ChatPublic):
    """A chat with its history and the latest plan."""

    messages: list[MessagePublic] = Field(description="The conversation, oldest first.")
    spec: dict[str, Any] | None = Field(default=None, description="The latest WorkloadSpec.")
    deployment_plan: dict[str, Any] | None = Field(
        default=None, description="The latest DeploymentPlan."
    )
    active_run_id: str | None = Field(
        default=None, description="A run still in progress; rejoin its stream."
    )


class ChatRename(BaseModel):
    """A new title."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, description="The chat's new title.")

    _text = field_validator("title")(_no_nul)


class KeyCreate(BaseModel):
    """A provider API key to keep in the vault."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(
        min_length=8, max_length=512, description="Stored encrypted; never shown again."
    )

    _text = field_validator("api_key")(_no_nul)


class KeyPublic(BaseModel):
    """What may be shown of a vaulted key: that it exists, and its last four characters."""

    provider: str = Field(description="openai or openai_compatible.")
    exists: bool = Field(description="Whether a key is stored.")
    last_four: str | None = Field(default=None, description="The key's last four characters.")
    key_version: int | None = Field(
        default=None, description="Version of the master key that encrypts it."
    )
    updated_at: datetime | None = Field(default=None, description="When it was stored.")


class UserPublic(BaseModel):
    """Who the caller is, and whether authentication is on."""

    user_id: str = Field(description="The caller's id (the token's subject).")
    email: str | None = Field(description="The caller's email, when the token has one.")
    auth_enabled: bool = Field(description="False: every caller is the one local user.")
    notice: str | None = Field(default=None, description="Shown by the page as a banner.")
