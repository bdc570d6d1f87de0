"""What the dashboard's session routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tickettoken.kit.auth import Role


class DashboardUser(BaseModel):
    role: Role
    sub: str


class DashboardSession(DashboardUser):
    expires_at: int = Field(description="when the session cookie expires (Unix seconds)")


class SignedOut(BaseModel):
    signed_out: bool
