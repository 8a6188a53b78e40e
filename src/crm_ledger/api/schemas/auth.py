"""Request and response models of logging in and of people's accounts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_ledger.security.passwords import MAX_LENGTH, MIN_LENGTH

Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
Code = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["492039"])]


class Credentials(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "ana", "password": "correct horse battery", "code": None}]
        },
    )

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: str | None = Field(default=None, description="the one-time code, once TOTP is on")


class SessionPublic(BaseModel):
    token: str = Field(description="send as Authorization: Bearer <token>; shown once")
    expires_at: str
    user: UserPublic


class UserPublic(BaseModel):
    id: UUID
    version: int
    username: str
    role: str
    totp: bool
    disabled: bool
    locked_until: str | None
    last_login: str | None
    created_by: str
    created_at: str


class Me(BaseModel):
    actor: str
    name: str
    role: str
    kind: str = Field(description="apikey or user")


class TotpSetup(BaseModel):
    secret: str = Field(description="base32; shown once")
    uri: str = Field(description="otpauth:// URI for an authenticator app")


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "492039"}]})

    code: Code


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "ana", "role": "sales", "password": "correct horse battery"}]
        },
    )

    username: str = Field(min_length=3, max_length=64, examples=["ana"])
    role: str = Field(examples=["sales"])
    password: Password


class PasswordReset(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "a new long passphrase"}]}
    )

    password: Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "correct horse battery", "new_password": "a new passphrase"}
            ]
        },
    )

    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: Password


class TotpOff(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"password": "correct horse battery", "code": "492039"}]},
    )

    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: Code


class UserPage(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None


SessionPublic.model_rebuild()
