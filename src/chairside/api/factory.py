"""Entry point for app servers (uvicorn workers): the app built from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from chairside.api.app import create_app
from chairside.config import get_settings


def create_app_from_env() -> FastAPI:
    return create_app(get_settings())
