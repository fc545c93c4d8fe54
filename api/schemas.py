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

    conversation_id: str
    message: str


class MessageCreate(BaseModel):
    """One user message; without a conversation id a new chat is started."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = Field(default=None, max_length=64)
    message: str = Field(min_length=1)

    _text = field_validator("conversation_id", "message")(_no_nul)


class ChatTurnPublic(BaseModel):
    """The assistant's answer to one message."""

    conversation_id: str
    run_id: str
    response: str = Field(description="Markdown.")
    response_type: Literal["clarification", "deployment_plan", "error"]
    spec: dict[str, Any] | None = None
    deployment_plan: dict[str, Any] | None = None


class MessagePublic(BaseModel):
    """One message of a chat's history."""

    role: Literal["user", "assistant"]
    content: str


class ChatPublic(BaseModel):
    """A chat as listed."""

    conversation_id: str
    title: str | None
    created_at: datetime
    updated_at: datetime


class ChatList(BaseModel):
    """One page of the caller's chats, newest first."""

    items: list[ChatPublic]
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class ChatDetail(ChatPublic):
    """A chat with its history and the latest plan."""

    messages: list[MessagePublic]
    spec: dict[str, Any] | None = None
    deployment_plan: dict[str, Any] | None = None
    active_run_id: str | None = Field(
        default=None, description="A run still in progress; rejoin its stream."
    )


class ChatRename(BaseModel):
    """A new title."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)

    _text = field_validator("title")(_no_nul)


class KeyCreate(BaseModel):
    """A provider API key to keep in the vault."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=8, max_length=512)

    _text = field_validator("api_key")(_no_nul)


class KeyPublic(BaseModel):
    """What may be shown of a vaulted key: that it exists, and its last four characters."""

    provider: str
    exists: bool
    last_four: str | None = None
    key_version: int | None = None
    updated_at: datetime | None = None


class UserPublic(BaseModel):
    """Who the caller is, and whether authentication is on."""

    user_id: str
    email: str | None
    auth_enabled: bool
    notice: str | None = Field(default=None, description="Shown by the page as a banner.")
