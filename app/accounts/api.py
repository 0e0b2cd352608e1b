"""Auth and user endpoints."""

from ninja import Router

auth_router = Router()
users_router = Router()
