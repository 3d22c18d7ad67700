"""Safe YAML loading that keeps line numbers and rejects duplicate keys, tags and aliases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hpscout._errors import ConfigError

__all__ = ["load_yaml_file", "load_yaml_text", "parse_scalar"]

# YAML 1.1 (PyYAML) reads 1e-4 as a string; practitioners write LRs that way, so
# resolve YAML 1.2 floats too.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)

_MAX_BYTES = 5_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that records key positions and refuses duplicates and aliases."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self.positions: dict[str, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(
                f"YAML aliases (*{event.anchor}) are not allowed in hpscout configs "
                f"(in {self.source}, line {event.start_mark.line + 1}); write the value out"
            )
        return super().compose_node(parent, index)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ConfigError(f"mapping keys must be scalars (in {loader.source}, line {key_node.start_mark.line + 1})")
        if key in out:
            raise ConfigError(
                f"duplicate key '{key}' (in {loader.source}, line {key_node.start_mark.line + 1}); "
                "each key may appear once per mapping"
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]


def _record_positions(node: yaml.Node, prefix: str, positions: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            positions[key] = key_node.start_mark.line + 1
            _record_positions(value_node, key, positions)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}.{i}"
            positions[key] = item.start_mark.line + 1
            _record_positions(item, key, positions)


def load_yaml_text(text: str, source: str = "<string>") -> tuple[Any, dict[str, int]]:
    """Parse YAML text safely. Returns the data and a map of dotted key path -> line number."""
    if len(text) > _MAX_BYTES:
        raise ConfigError(f"{source} is {len(text)} bytes; configs over {_MAX_BYTES} bytes are refused")
    loader = _Loader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _record_positions(node, "", loader.positions)
        data = loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(
            f"{source}, line {line}: {exc.problem or exc} — only plain YAML (mappings, lists, scalars) is accepted; "
            "tags such as !!python/object are refused and nothing was executed"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: invalid YAML ({problem}); is the file truncated or mis-indented?") from None
    finally:
        loader.dispose()
    return data, loader.positions


def load_yaml_file(path: str | Path) -> tuple[Any, dict[str, int]]:
    """Read and parse a YAML file; errors name the file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config path {p} is a folder, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"could not read config file {p}: {exc.strerror}") from None
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"{p} is {len(raw)} bytes; configs over {_MAX_BYTES} bytes are refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_yaml_text(text, str(p))


def parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value as a YAML scalar (or flow list/map), with YAML 1.2 floats."""
    data, _ = load_yaml_text(text, "--set value")
    return data
