"""What an operator can set, from environment variables (a Bento is configured by its environment, not by files),
and which model the service declares.

Every variable has a default that is safe on a laptop: no token (the service is meant for loopback then), 10 MB
uploads, batching on. A value that cannot be parsed stops the service at start with a message that names the
variable, instead of serving with a silently different setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_NAME = "emotionthinker"  # the name the promote stage registers the served model under
ENV_PREFIX = "EMOTIONTHINKER_"


class SettingsError(ValueError):
    """An environment variable with a value the service cannot use; the message names it and the fix."""


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(ENV_PREFIX + name)
    return value.strip() if value is not None and value.strip() != "" else None


def _number(env: Mapping[str, str], name: str, default: float, kind: type, low: float, high: float):
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(
            f"{ENV_PREFIX}{name}={raw!r} is not a{'n integer' if kind is int else ' number'}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} is out of range; use a value from {low} to {high}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{ENV_PREFIX}{name}={raw!r}: use 1/true/on or 0/false/off")


@dataclass(frozen=True)
class Settings:
    """The service's knobs. ``from_env`` documents each variable."""

    model_tag: str | None = None
    api_token: str | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_duration_s: float | None = None  # None: the data limit (30 s) capped by what the model can hear
    batching: bool = True
    max_batch_size: int = 8
    max_latency_ms: int = 10_000
    max_pending: int = 64
    max_new_tokens_cap: int = 512
    verify_model: bool = True
    timeout_s: float = 120.0
    torch_threads: int = 0  # 0: automatic (1 for a tiny model, torch's default otherwise)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``EMOTIONTHINKER_*`` variables.

        MODEL_TAG       serve this model tag instead of the promoted one (name:version)
        API_TOKEN       require ``Authorization: Bearer <token>`` on every API call (unset: no authentication)
        MAX_UPLOAD_MB   largest request body accepted on /analyze, in MB (default 10)
        MAX_DURATION_S  longest clip accepted, in seconds (default 30, capped by the model's audio window)
        BATCHING        1: adaptive batching of the generation step (default); 0: one clip per generation
        MAX_BATCH_SIZE  most clips generated together (default 8)
        MAX_LATENCY_MS  longest a clip may wait in the batching queue before a 503 (default 10000)
        MAX_PENDING     most analyses in flight; more get a 503 with Retry-After (default 64)
        MAX_NEW_TOKENS  the largest max_new_tokens a client may ask for (default 512)
        VERIFY_MODEL    1: check the model files against their SHA-1 manifest at start (default)
        TIMEOUT_S       request timeout, in seconds (default 120)
        TORCH_THREADS   intra-op threads of the model; 0 (default): 1 for models under 50M parameters, whose
                        matrices are too small to split (thread hand-offs cost more than the arithmetic and stall
                        when the prosody threads hold the cores), torch's default for larger ones
        """
        env = os.environ if env is None else env
        token = _get(env, "API_TOKEN")
        if token is not None and len(token) < 16:
            raise SettingsError(
                f"{ENV_PREFIX}API_TOKEN is {len(token)} characters long; use at least 16 random characters, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        duration = _get(env, "MAX_DURATION_S")
        return cls(
            model_tag=_get(env, "MODEL_TAG"),
            api_token=token,
            max_upload_bytes=int(_number(env, "MAX_UPLOAD_MB", 10.0, float, 0.01, 1024.0) * 1024 * 1024),
            max_duration_s=None if duration is None else _number(env, "MAX_DURATION_S", 30.0, float, 0.5, 600.0),
            batching=_flag(env, "BATCHING", True),
            max_batch_size=_number(env, "MAX_BATCH_SIZE", 8, int, 2, 256),
            max_latency_ms=_number(env, "MAX_LATENCY_MS", 10_000, int, 100, 600_000),
            max_pending=_number(env, "MAX_PENDING", 64, int, 1, 100_000),
            max_new_tokens_cap=_number(env, "MAX_NEW_TOKENS", 512, int, 1, 8192),
            verify_model=_flag(env, "VERIFY_MODEL", True),
            timeout_s=_number(env, "TIMEOUT_S", 120.0, float, 1.0, 3600.0),
            torch_threads=_number(env, "TORCH_THREADS", 0, int, 0, 1024),
        )


def tag_from_bento(bento_yaml: Path) -> str | None:
    """The ``emotionthinker`` model tag a built Bento was built with (its ``bento.yaml``), or None outside a Bento.

    A Bento must keep serving the model it was built with, even after a newer one is promoted, and a Bento copied
    to another machine has no promotion pointer at all; so inside a Bento its own record wins over the registry.
    """
    if not bento_yaml.is_file():
        return None
    import yaml

    info = yaml.safe_load(bento_yaml.read_text()) or {}
    entries = list(info.get("models") or [])  # the Bento's own list, then each service's (BentoML 1.4 keeps both)
    for svc in info.get("services") or []:
        entries += list((svc or {}).get("models") or [])
    tags = [str(m.get("tag")) if isinstance(m, dict) else str(m) for m in entries]
    ours = [t for t in tags if t.split(":", 1)[0] == MODEL_NAME]
    return ours[0] if ours else None


def resolve_model_tag(settings: Settings, service_file: Path) -> str:
    """The tag to declare: ``EMOTIONTHINKER_MODEL_TAG``, else the Bento's own model, else the promoted model."""
    if settings.model_tag:
        if ":" not in settings.model_tag:
            raise SettingsError(
                f"{ENV_PREFIX}MODEL_TAG={settings.model_tag!r}: give name:version, e.g. {MODEL_NAME}:abc123 "
                "(bentoml models list shows them)"
            )
        return settings.model_tag
    here = service_file.resolve()
    if here.parent.parent.name == "src" and (tag := tag_from_bento(here.parents[2] / "bento.yaml")):
        return tag
    from emotionthinker.registry import Registry

    registry = Registry()
    current = registry.current(MODEL_NAME)
    if current is None:
        raise SettingsError(
            f"no model is promoted as '{MODEL_NAME}' in {registry.home} (BENTOML_HOME): run the pipeline up to "
            f"the promote stage (dvc repro promote), point BENTOML_HOME at the store that holds it, or set "
            f"{ENV_PREFIX}MODEL_TAG=name:version"
        )
    return current["tag"]
