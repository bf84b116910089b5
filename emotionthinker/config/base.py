"""Shared base of the typed configs, and the YAML reader with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors (a typo in params.yaml must not pass silently); configs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _loader():
    """PyYAML's safe loader, reading ``1e-6`` as a float as YAML 1.2 (and DVC, and ruamel) do; YAML 1.1 needs a dot."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file with an error that names it.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"
    >>> _ = p.write_text("lr: 1e-6" + chr(10) + "name: e5")
    >>> load_yaml(p)
    {'lr': 1e-06, 'name': 'e5'}
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = yaml.load(path.read_text(), Loader=_loader()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data
