"""msgspec types generated from the schema files; the hot path of registry events (decode
and type-check in one pass) and the yes/no schema check of every topic (``conforms``).

Each schema file is turned, at first use, into msgspec types:
``properties`` become fields, ``required`` the fields without a default,
``additionalProperties: false`` ``forbid_unknown_fields`` (otherwise a ``dict``, its keys
checked by ``propertyNames``), ``items`` a ``list``, ``const``/``enum`` ``Literal``,
``pattern``/``minLength``/``maxLength``/``minimum``/``maximum`` ``msgspec.Meta``, and each
``allOf`` of ``if {X: const} then/else`` a tagged union on ``X`` (upsert/void by ``action``,
the rental tenant by ``tenant_kind``). A keyword the generator does not know stops it, so a
schema change cannot be silently ignored; tests/unit/contracts/test_typed_events.py checks
the Structs against the files and against jsonschema (the reference).

This path only *accepts*. Whatever it does not accept (bad JSON, a wrong type, a key
repeated in one object, a value rule broken) goes to the reference path
(``contracts.strict_json`` + jsonschema + ``contracts.value_rules``), which finds the
reason, the sentence and the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

import msgspec

from contracts.schema_check import load_schema

__all__ = ["canonical_bytes", "decode_value", "event_type"]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "format"}
)
_META = {
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "ge",
    "maximum": "le",
}
_ANY = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder(order="sorted")
_COLON = b":"
_ESCAPE_OF_COLON = b"\\u003"  # \u003a or \u003A (and, cheaply, its neighbours)


def ecma_pattern(pattern: str) -> str:
    """ECMA-262 (the regex dialect of JSON Schema) anchors ``$`` at the end of the input only;
    msgspec (``re.search``) would also match before a trailing newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed and merged (siblings may only annotate)."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None:
        return node
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"only local $defs references are supported: {ref}")
    target = _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    clash = {k for k in node if k in target and k not in _ANNOTATIONS and node[k] != target[k]}
    if clash:
        raise ValueError(f"a $ref's siblings change its keywords {sorted(clash)}")
    return {**target, **node}


def _field_type(node: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
    node = _resolve(node, root)
    known = _ANNOTATIONS | {"type", "const", "enum", "properties", "required", "items"}
    known |= {"additionalProperties", "propertyNames", "allOf", "minItems", "maxItems"}
    unknown = set(node) - known - set(_META)
    if unknown:
        raise ValueError(f"{name}: the typed decoder does not know {sorted(unknown)}")
    if "const" in node or "enum" in node:
        values = [node["const"]] if "const" in node else list(node["enum"])
        if not all(type(v) is str for v in values) and node.get("type") != "integer":
            # JSON equality would take 1.0 for 1; only an integer type rules that out
            raise ValueError(f"{name}: constants must be strings, or integers of an integer type")
        if not all(type(v) in (str, int) for v in values):
            raise ValueError(f"{name}: only string and integer constants are supported")
        return Literal[tuple(values)]
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    meta = {_META[k]: v for k, v in node.items() if k in _META}
    if "pattern" in meta:
        meta["pattern"] = ecma_pattern(meta["pattern"])
    kinds = [_kind(kind, node, root, name) for kind in types if kind != "null"]
    if meta:
        if len(kinds) != 1 or types[0] in ("object", "array", "boolean"):
            raise ValueError(f"{name}: constraints on {types} are not supported")
        kinds = [Annotated[kinds[0], msgspec.Meta(**meta)]]
    if "null" in types:
        kinds.append(None)
    return Union[tuple(kinds)] if len(kinds) > 1 else kinds[0]  # noqa: UP007


def _kind(kind: str, node: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
    if kind == "object":
        return _object(node, root, name)
    if kind == "array":
        if "items" not in node:
            raise ValueError(f"{name}: an array needs items")
        item = _field_type(node["items"], root, f"{name}.item")
        bounds = {"min_length": node.get("minItems"), "max_length": node.get("maxItems")}
        bounds = {k: v for k, v in bounds.items() if v is not None}
        return Annotated[list[item], msgspec.Meta(**bounds)] if bounds else list[item]  # type: ignore[valid-type]
    if {"items", "minItems", "maxItems"} & set(node):
        raise ValueError(f"{name}: array keywords on a {kind}")
    simple = {"string": str, "integer": int, "boolean": bool}
    if kind in simple:
        return simple[kind]  # msgspec is strict: 1.0, 1e0 and true are not integers
    raise ValueError(f"{name}: the typed decoder does not know the type {kind!r}")


def _object(node: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
    """A Struct when the properties are known; a map when only their values are."""
    extra = node.get("additionalProperties", True)
    if extra is False:
        if "propertyNames" in node:
            raise ValueError(f"{name}: propertyNames with known properties is not supported")
        return _struct(node, root, name)
    if node.get("properties") or node.get("required") or node.get("allOf"):
        raise ValueError(f"{name}: known properties need additionalProperties: false")
    key: Any = str
    names = node.get("propertyNames")
    if names is not None:
        names = {k: v for k, v in names.items() if k not in _ANNOTATIONS}
        if set(names) - {"pattern", "minLength", "maxLength"}:
            raise ValueError(f"{name}: propertyNames supports pattern and lengths only")
        key = _field_type({"type": "string", **names}, root, f"{name}.key")
    value = Any if extra is True else _field_type(extra, root, f"{name}.value")
    return dict[key, value]  # type: ignore[valid-type]


def _branches(node: Mapping[str, Any]) -> tuple[str | None, list[Mapping[str, Any]]]:
    """The property every ``allOf`` condition tests (``if {X: {const}} required [X]``)."""
    rules = list(node.get("allOf", ()))
    tag: str | None = None
    for rule in rules:
        condition = rule.get("if", {})
        props = condition.get("properties", {})
        extra = set(rule) - {"if", "then", "else"}
        if extra or len(props) != 1 or set(condition) != {"properties", "required"}:
            raise ValueError(f"unsupported allOf rule: {rule}")
        ((name, test),) = props.items()
        if set(test) != {"const"} or condition["required"] != [name] or tag not in (None, name):
            raise ValueError(f"unsupported allOf condition: {condition}")
        tag = name
    return tag, rules


def _struct(node: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
    if node.get("additionalProperties") is not False:
        raise ValueError(f"{name}: objects must say additionalProperties: false")
    properties: dict[str, Any] = dict(node.get("properties", {}))
    required = set(node.get("required", ()))
    tag, rules = _branches(node)
    if tag is None:
        return _defstruct(name, properties, required, root)
    tag_values = _tag_values(_resolve(properties[tag], root), tag)
    variants = []
    for value in tag_values:
        props, needed = dict(properties), set(required)
        for rule in rules:
            branch = rule["then"] if rule["if"]["properties"][tag]["const"] == value else None
            branch = branch if branch is not None else rule.get("else")
            if branch is not None:
                _apply(branch, props, needed, root)
        del props[tag]
        needed.discard(tag)
        suffix = str(value).title().replace("_", "")
        variants.append(
            _defstruct(f"{name}{suffix}", props, needed, root, tag_field=tag, tag=value)
        )
    return Union[tuple(variants)]  # noqa: UP007 - a runtime union of generated types


def _tag_values(node: Mapping[str, Any], tag: str) -> list[str]:
    values = [node["const"]] if "const" in node else node.get("enum")
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"the condition's property {tag} must be a string enum")
    return list(values)


def _apply(
    branch: Mapping[str, Any], props: dict[str, Any], needed: set[str], root: Mapping[str, Any]
) -> None:
    """One ``then``/``else`` branch: more required fields, absent fields, narrower fields."""
    if set(branch) - {"required", "properties"}:
        raise ValueError(f"unsupported branch: {branch}")
    needed.update(branch.get("required", ()))
    for field, sub in branch.get("properties", {}).items():
        sub = {k: v for k, v in sub.items() if k not in _ANNOTATIONS}
        if sub == {"not": {}}:
            props.pop(field, None)
            needed.discard(field)
            continue
        base = {k: v for k, v in _resolve(props[field], root).items() if k not in _ANNOTATIONS}
        narrow = _resolve(sub, root)
        clash = {k for k in base if k in narrow and base[k] != narrow[k]}
        if clash:
            raise ValueError(f"{field}: a branch changes {sorted(clash)}")
        props[field] = {**base, **narrow}


def _defstruct(
    name: str,
    properties: Mapping[str, Any],
    required: set[str],
    root: Mapping[str, Any],
    **config: Any,
) -> Any:
    if not required <= set(properties):
        raise ValueError(f"{name}: required fields without a schema: {required - set(properties)}")
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field, sub in properties.items():
        kind = _field_type(sub, root, f"{name}.{field}")
        if field in required:
            fields.append((field, kind))
        else:
            fields.append((field, kind | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(
        name, fields, kw_only=True, forbid_unknown_fields=True, frozen=True, **config
    )


@functools.cache
def topic_type(topic: str) -> Any:
    """The msgspec type of ``topic``'s messages, generated from its schema file."""
    schema = load_schema(topic)
    if schema.get("type") != "object":
        raise ValueError(f"{topic}: a message is an object")
    return _object(schema, schema, re.sub(r"\W", "_", topic.removesuffix(".v1")).title())


def event_type(registry: str) -> Any:
    """The msgspec type of ``registry.<registry>.v1``."""
    return topic_type(f"registry.{registry}.v1")


def conforms(value: Any, topic: str) -> bool:
    """Whether a parsed JSON value is valid against ``topic``'s schema (msgspec, in C)."""
    try:
        msgspec.convert(value, topic_type(topic), strict=True)
    except msgspec.ValidationError:
        return False
    return True


@functools.cache
def _decoder(registry: str) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(event_type(registry))


def canonical_bytes(value: Any) -> bytes:
    """``canonical_json`` (keys sorted, no spaces, UTF-8) of a decoded event, in C."""
    return _ENCODER.encode(value)


def decode_value(raw: bytes, registry: str) -> tuple[dict[str, Any], bytes] | None:
    """The event as plain JSON values and its canonical bytes, when ``raw`` is a
    schema-valid event of ``registry`` in strict JSON; None for anything else (the
    reference path then says why)."""
    try:
        _decoder(registry).decode(raw)  # the shape, every type and bound, in one pass
        value: dict[str, Any] = _ANY.decode(raw)  # the same bytes as plain values
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    canonical = _ENCODER.encode(value)
    # A key repeated in one object is lost by any decoder but leaves one ':' more in the
    # bytes than in the value; an escaped ':' (\u003a) could hide it, so it is not taken.
    if raw.count(_COLON) != canonical.count(_COLON) or _ESCAPE_OF_COLON in raw:
        return None
    return value, canonical
