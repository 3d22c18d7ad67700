"""Load, override, derive and dump experiment configs."""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hpscout._errors import ConfigError
from hpscout._io import atomic_write_text
from hpscout._secrets import mask_url
from hpscout.config._schema import CONFIG_VERSION, ExperimentConfig
from hpscout.config._yaml import load_yaml_file, parse_scalar

__all__ = [
    "load_config",
    "config_from_dict",
    "apply_updates",
    "get_value",
    "config_to_dict",
    "dump_config",
    "save_config",
    "parse_overrides",
    "flatten",
    "builtin_path",
    "BUILTIN_PREFIX",
]


def load_config(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Load a YAML experiment config, apply ``--set key=value`` overrides and validate it.

    Relative data paths are resolved against the config file's folder when they exist there.

    Example:
        >>> cfg = load_config("examples/sst2-minilm-lora.yaml", ["train.learning_rate=3e-3"])
        >>> cfg.train.learning_rate
        0.003
    """
    p = Path(path)
    data, positions = load_yaml_file(p)
    if data is None:
        raise ConfigError(f"{p} is empty; an experiment config needs at least 'name' and 'data.train'")
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of keys at the top level, but holds a {type(data).__name__}")
    overrides = list(overrides)
    updates = parse_overrides(overrides)
    given = {item.partition("=")[0].strip(): item for item in overrides}
    for key, value in updates.items():
        _set_dotted(data, key, value, source=f"--set {given[key]}")
    _resolve_relative_paths(data, p.parent)
    return config_from_dict(data, source=str(p), positions=positions, overrides=given)


def config_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "<config>",
    positions: Mapping[str, int] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> ExperimentConfig:
    """Validate a plain mapping as an :class:`ExperimentConfig`, with errors that name the key.

    ``overrides`` maps dotted keys set on the command line to their ``key=value`` text: an
    error in such a key names that ``--set`` argument instead of a line of ``source``.
    """
    try:
        return ExperimentConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source, positions or {}, overrides or {})) from None


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (value as a YAML scalar) into an ordered mapping."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects dotted.key=value, but got {item!r}")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set key must be a dotted path like train.learning_rate, but got {key!r}")
        out[key] = parse_scalar(raw) if raw.strip() else ""
    return out


def apply_updates(config: ExperimentConfig, updates: Mapping[str, Any], *, source: str = "<updates>") -> ExperimentConfig:
    """Return a new validated config with dotted ``updates`` applied.

    Example:
        >>> cfg = load_config("examples/sst2-minilm-lora.yaml")
        >>> apply_updates(cfg, {"train.lora.r": 16}).train.lora.r
        16
    """
    data = config.model_dump(mode="json")  # not config_to_dict: the derived config keeps the storage password
    for key, value in updates.items():
        _set_dotted(data, key, value, source=source)
    return config_from_dict(data, source=source)


def get_value(config: ExperimentConfig | Mapping[str, Any], key: str) -> Any:
    """Read a dotted key from a config (or its dict form)."""
    node: Any = config_to_dict(config) if isinstance(config, BaseModel) else config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"config key '{key}' does not exist (stopped at '{part}')")
        node = node[part]
    return node


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """The config as plain Python data (JSON/YAML-serialisable), as it may be written or printed.

    A password in ``storage`` is masked (``***``): every config hpscout writes (run folder,
    ``top/``, ``final/``, ``result.json``, exports) and ``validate --json`` go through here.
    """
    data = config.model_dump(mode="json")
    if isinstance(data.get("storage"), str):
        data["storage"] = mask_url(data["storage"])
    return data


def dump_config(config: ExperimentConfig, *, header: str | None = None) -> str:
    """Serialise a config to YAML with sorted keys and a version stamp."""
    data = config_to_dict(config)
    data["version"] = CONFIG_VERSION
    body = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)
    if header:
        lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
        return lines + body
    return body


def save_config(config: ExperimentConfig, path: str | os.PathLike[str], *, header: str | None = None) -> Path:
    """Write a config atomically as YAML."""
    atomic_write_text(path, dump_config(config, header=header))
    return Path(path)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- helpers


def _known_keys(path: list[str]) -> list[str] | None:
    """The field names allowed at a dotted location of the schema, or None when free-form."""
    model: Any = ExperimentConfig
    for part in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        ann = fields[part].annotation
        model = _model_in(ann)
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else None


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _set_dotted(data: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            allowed = _known_keys(parts[:i])
            if allowed is not None and part not in allowed:
                raise ConfigError(_unknown_key_message(key, part, allowed, source))
            nxt = {}
            node[part] = nxt
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {key}: '{'.'.join(parts[: i + 1])}' is a {type(nxt).__name__}, not a mapping ({source})")
        node = nxt
    last = parts[-1]
    allowed = _known_keys(parts[:-1])
    if allowed is not None and last not in allowed:
        raise ConfigError(_unknown_key_message(key, last, allowed, source))
    node[last] = copy.deepcopy(value)


def _unknown_key_message(full: str, part: str, allowed: list[str], source: str) -> str:
    guess = difflib.get_close_matches(part, allowed, n=1)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    return f"unknown key '{full}'{hint} in {source}; allowed keys here: {', '.join(allowed)}"


def _format_validation_error(
    exc: ValidationError, source: str, positions: Mapping[str, int], overrides: Mapping[str, str]
) -> str:
    msgs = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        key = ".".join(loc) or "<top level>"
        given = _override_for(loc, overrides)
        if given is not None:
            where = f"in --set {given}, key {key}"
        else:
            line = _line_for(loc, positions)
            where = f"in {source}" + (f", line {line}" if line else "") + f", key {key}"
        if err["type"] == "extra_forbidden":
            allowed = _known_keys(loc[:-1]) or []
            guess = difflib.get_close_matches(loc[-1], allowed, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            msgs.append(f"unknown key '{key}'{hint} ({where}); allowed keys here: {', '.join(allowed)}")
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        got = err.get("input")
        got_txt = "" if err["type"] in ("value_error", "missing") or isinstance(got, dict) else f", but got {got!r}"
        msgs.append(f"{msg}{got_txt} ({where})")
    head = msgs[0] if len(msgs) == 1 else f"{len(msgs)} problems:\n  - " + "\n  - ".join(msgs)
    return head


def _override_for(loc: list[str], overrides: Mapping[str, str]) -> str | None:
    """The ``--set`` text that set the value at ``loc`` (or a mapping holding it), if any."""
    for n in range(len(loc), 0, -1):
        key = ".".join(loc[:n])
        if key in overrides:
            return overrides[key]
    return None


def _line_for(loc: list[str], positions: Mapping[str, int]) -> int | None:
    for n in range(len(loc), 0, -1):
        key = ".".join(loc[:n])
        if key in positions:
            return positions[key]
    return None


BUILTIN_PREFIX = "builtin:"


def builtin_path(value: str) -> Path:
    """Resolve ``builtin:sst2/train.tsv`` to the example data shipped inside the package."""
    rel = value[len(BUILTIN_PREFIX) :]
    root = (Path(__file__).resolve().parents[1] / "templates" / "data").resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.exists():
        available = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".md")
        raise ConfigError(f"unknown builtin data {value!r}; available: {', '.join('builtin:' + a for a in available)}")
    return path


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    """Data paths (and ``model.adapter``) are relative to the config file when they exist there, else to the cwd."""
    section = data.get("data")
    if isinstance(section, dict):
        for key in ("train", "eval"):
            value = section.get(key)
            if isinstance(value, str) and value.startswith(BUILTIN_PREFIX):
                section[key] = str(builtin_path(value))
            else:
                _relative_to(section, key, base)
    model = data.get("model")
    if isinstance(model, dict):
        _relative_to(model, "adapter", base)


def _relative_to(section: dict[str, Any], key: str, base: Path) -> None:
    value = section.get(key)
    if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value:
        candidate = base / value
        if not Path(value).exists() and candidate.exists():
            section[key] = str(candidate)
