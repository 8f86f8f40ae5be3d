"""Render docs/configuration.md: one reference table of every service's settings.

The table is generated from the settings models themselves, so it cannot drift from the
code; ``tests/test_settings_reference.py`` fails when the committed file is stale.
Regenerate with ``python -m dsa110_stream.settings_reference > docs/configuration.md``.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: Command → settings model, as "module:Class".
SERVICES: dict[str, str] = {
    "produce": "producer.settings:ProducerSettings",
    "consume": "consumer.settings:ConsumerSettings",
    "topics": "schemas.topics:TopicAdminSettings",
}

HEADER = """# Configuration reference

Generated from the settings models by `python -m dsa110_stream.settings_reference`; do not
edit by hand. Every service reads, in increasing precedence: the defaults below, a YAML
file given with `--config FILE` (nested keys as in the *setting* column), environment
variables (the *environment* column), and command-line flags.
"""


TABLE_HEAD = "\n| setting | environment | type | default | meaning |\n|---|---|---|---|---|\n"


def _model(path: str) -> type[BaseModel]:
    module, name = path.split(":")
    model = getattr(importlib.import_module(module), name)
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " \\| ".join(_type_name(arg) for arg in typing.get_args(annotation))
    return str(annotation).replace("typing.", "").replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(see below)" if _nested_model(field.annotation) else "(empty)"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{field.default!r}`"


def _rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str, str, str]]:
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            yield from _rows(nested, f"{dotted}.")
            continue
        env = "DSA110_" + dotted.replace(".", "__").upper()
        description = (field.description or "").replace("\n", " ").replace("|", "\\|")
        yield (f"`{dotted}`", f"`{env}`", _type_name(field.annotation), _default(field),
               description)


def render() -> str:
    """The whole reference document."""
    parts = [HEADER]
    for command, path in SERVICES.items():
        model = _model(path)
        parts.append(f"\n## `dsa110-stream {command}` ({model.__name__})\n")
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            parts.append(f"\n{doc[0]}\n")
        parts.append(TABLE_HEAD)
        parts.extend("| " + " | ".join(row) + " |\n" for row in _rows(model))
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
