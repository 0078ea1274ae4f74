"""The definition's models: what they accept normalises as versions always stored it, what they refuse is
named by path in sentences, and every default the runners rely on is the schema's."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from causeway.recipes import schema
from causeway.recipes.definition import definition_clean, definition_load, walk_steps
from causeway.recipes.schema import STEPS, TRIGGERS, Definition, Settings, Step, Template

HERE = Path(__file__).parent


def refused(raw: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        definition_clean(raw)
    return caught.value.message_dict


# What is accepted.


def test_definitions_stored_before_normalise_to_the_same_json() -> None:
    cases = json.loads((HERE / "stored_definitions.json").read_text())["cases"]
    for case in cases:
        assert definition_clean(case["stored"]) == case["normalised"]
        # A version's JSON loads as it is: normalising it again changes nothing.
        assert definition_clean(case["normalised"]) == case["normalised"]


blank = st.sampled_from([None, ""])
templates = st.sampled_from(["", "x", "{{ trigger.a }}", "{{ steps.fetch.total * 2 }}", "a: b"])
mappings = st.dictionaries(st.sampled_from(["A", "b", "X-Id"]), st.one_of(templates, st.none()), max_size=3)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Fields that may be left out, or given as null or "" (their default), or given."""
    return st.fixed_dictionaries({}, optional={key: st.one_of(blank, value) for key, value in fields.items()})


def step_fields(kind: str, children: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[Any]:
    whole = st.one_of(st.integers(min_value=0, max_value=5), st.sampled_from(["1", "3", " 2 "]))
    required: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "http": {"url": st.sampled_from(["https://api.example.com/items", "{{ trigger.url }}"])},
        "connector": {
            "connection": st.just("3f2b9c1e-8d4a-4e6f-9a1b-2c3d4e5f6a7b"),
            "action": st.sampled_from(["get", "post"]),
        },
        "map": {},
        "lookup_read": {"table": st.just("Prices"), "key": templates.filter(bool)},
        "lookup_write": {"table": st.just("Prices"), "key": templates.filter(bool)},
        "condition": {"if": st.just("trigger.ok")},
        "foreach": {"items": st.just("trigger.lines")},
        "stop": {"message": templates.filter(bool)},
        "respond": {},
    }
    others: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "http": {
            "method": st.sampled_from(["GET", "POST", "DELETE"]),
            "headers": st.just({"Authorization": "Bearer {{ secret.CRM_TOKEN }}"}) | mappings,
            "query": mappings,
            "body_type": st.sampled_from(["none", "json"]),
            "body": json_values,
            "timeout_seconds": st.integers(min_value=1, max_value=300),
            "retries": whole,
            "idempotency_key": st.booleans(),
        },
        "map": {"fields": mappings},
        "lookup_write": {"values": mappings},
        "condition": {"then": children, "else": children},
        "foreach": {"as": st.sampled_from(["row", "line"]), "steps": children},
        "respond": {
            "status": st.sampled_from(["201", "{{ trigger.code }}"]),
            "headers": mappings,
            "body": json_values,
        },
    }
    return st.tuples(st.fixed_dictionaries(required[kind]), optional(**others.get(kind, {}))).map(
        lambda parts: {**parts[0], **parts[1]}
    )


def step_lists(depth: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    children = step_lists(depth - 1) if depth > 1 else st.just([])
    one = st.sampled_from(list(STEPS.models)).flatmap(
        lambda kind: step_fields(kind, children).map(lambda fields, kind=kind: {"type": kind, **fields})
    )
    return st.lists(one, max_size=3)


def with_ids(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for number, step in enumerate(walk_steps(steps)):
        step["id"] = f"s{number}"
    return steps


triggers = st.one_of(
    optional(type=st.just("manual")),
    st.just({"type": "webhook"}),
    st.fixed_dictionaries(
        {"type": st.just("webhook")},
        optional={"respond": st.booleans(), "respond_timeout_seconds": st.sampled_from([1, "30", 300])},
    ),
    st.fixed_dictionaries(
        {"type": st.just("schedule"), "cron": st.sampled_from(["*/5 * * * *", "0 9 * * 1-5"])}
    )
    | st.fixed_dictionaries(
        {"type": st.just("schedule"), "cron": st.just("0 0 1 * *")},
        optional={
            "timezone": st.sampled_from(["UTC", "Europe/Paris", ""]),
            "missed": st.sampled_from(["catch_up", None]),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("poll"), "url": st.just("https://api.example.com/orders")},
        optional={
            "interval_seconds": st.sampled_from([10, "60", 86400]),
            "key": st.sampled_from(["", "number"]),
        },
    ),
)
definitions = st.fixed_dictionaries(
    {"trigger": triggers, "steps": step_lists(5).map(with_ids)},
    optional={
        "settings": st.one_of(blank, optional(max_duration_seconds=st.integers(min_value=1, max_value=86400)))
    },
)


@settings(max_examples=300, deadline=None)
@given(definitions)
def test_what_the_models_accept_round_trips_to_the_same_normalised_json(raw: dict[str, Any]) -> None:
    normalised = definition_clean(raw)
    assert json.loads(json.dumps(normalised)) == normalised
    assert definition_clean(normalised) == normalised
    assert definition_load(normalised).normalised() == normalised


# What is refused.


def nested_conditions(levels: int) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": f"c{levels}",
        "type": "condition",
        "if": "1",
        "then": [{"id": "z", "type": "stop", "message": "m"}],
    }
    for level in range(levels - 1, 0, -1):
        step = {"id": f"c{level}", "type": "condition", "if": "1", "then": [step]}
    return step


SECRETS_ONLY = "secrets may only be used in an http step's headers, query or body"


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        ([1, 2], {"definition": ["a definition is an object with a trigger and steps"]}),
        (
            {"trigger": {"type": "cron"}, "steps": [], "workspace_id": "x", "owner": None},
            {
                "definition": ["unknown field(s): owner, workspace_id"],
                "trigger.type": ["must be one of manual, schedule, webhook, api_endpoint, poll, connector"],
            },
        ),
        (
            {"steps": [{"id": "x", "type": "http"}]},
            {"trigger": ["a recipe needs a trigger"], "steps[0].url": ["this field is required"]},
        ),
        (
            {
                "trigger": {
                    "type": "schedule",
                    "cron": "every day",
                    "timezone": "Mars/Base",
                    "missed": "later",
                },
                "settings": {"max_duration_seconds": 0},
            },
            {
                "trigger.cron": ["not a valid cron expression (five fields, such as */5 * * * *)"],
                "trigger.timezone": ["unknown time zone 'Mars/Base'"],
                "trigger.missed": ["must be one of skip, catch_up"],
                "settings.max_duration_seconds": ["must be between 1 and 86400"],
            },
        ),
        (
            {"trigger": {"type": "schedule", "cron": "* * * * * *"}, "settings": [1]},
            {
                "trigger.cron": ["use five fields: minute hour day month weekday"],
                "settings": ["must be an object"],
            },
        ),
        (
            {
                "trigger": {
                    "type": "poll",
                    "url": "https://x/{{ secret.TOKEN }}",
                    "method": "PUT",
                    "interval_seconds": 5,
                    "headers": [],
                }
            },
            {
                "trigger.method": ["must be one of GET, POST"],
                "trigger.headers": ["must be an object of names to templates"],
                "trigger.interval_seconds": ["must be between 10 and 86400"],
                "trigger.url": [SECRETS_ONLY],
            },
        ),
        (
            {
                "trigger": {"type": "manual"},
                "steps": [
                    {"id": "Shape!"},
                    {"id": "trigger", "type": "stop", "message": "m"},
                    {"id": "a", "type": "stop", "message": "m"},
                    {"id": "a", "type": "stop", "message": "m"},
                    7,
                    {"id": "b", "type": "cron", "fields": 3},
                ],
            },
            {
                "steps[0].id": ["an id is a lower-case letter, then letters, digits or _ (at most 40)"],
                "steps[1].id": ["trigger is a reserved name"],
                "steps[3].id": ["the id a is used by another step"],
                "steps[4]": ["a step must be an object"],
                "steps[5].type": [
                    "must be one of http, connector, map, lookup_read, lookup_write, condition, foreach,"
                    " stop, respond"
                ],
                "steps[5].fields": ["must be an object of names to templates"],
            },
        ),
        (
            {
                "trigger": {"type": "manual"},
                "steps": [
                    {
                        "id": "h",
                        "type": "http",
                        "url": "u",
                        "method": "get",
                        "body_type": "text",
                        "body": {"a": 1},
                        "timeout_seconds": True,
                        "retries": "many",
                        "headers": {" ": "x", "X": 5, "": 5},
                    }
                ],
            },
            {
                "steps[0].method": ["must be one of GET, POST, PUT, PATCH, DELETE, HEAD"],
                "steps[0].headers": [
                    "every name must be non-empty text",
                    "every name must be non-empty text",
                ],
                "steps[0].headers.X": ["must be text"],
                "steps[0].timeout_seconds": ["must be a whole number"],
                "steps[0].retries": ["must be a whole number"],
                "steps[0].body": ["must be text"],
            },
        ),
        (
            {
                "trigger": {"type": "manual"},
                "steps": [
                    {"id": "m", "type": "map", "fields": {"a": "{{ secret.X }}"}},
                    {
                        "id": "w",
                        "type": "lookup_write",
                        "table": "t",
                        "key": "{{ secret['Y'] }}",
                        "values": {"v": "{{ secret.Z }}"},
                    },
                    {"id": "f", "type": "foreach", "items": "secret.A", "as": "loop"},
                    {"id": "s", "type": "stop", "message": "{{ secret.B }}"},
                    {"id": "c", "type": "condition", "if": "secret.C"},
                ],
            },
            {
                "steps[0].fields.a": [SECRETS_ONLY],
                "steps[1].key": [SECRETS_ONLY],
                "steps[1].values.v": [SECRETS_ONLY],
                "steps[2].items": [SECRETS_ONLY],
                "steps[2].as": ["a loop variable is a lower-case name that is not reserved"],
                "steps[3].message": [SECRETS_ONLY],
                "steps[4].if": [SECRETS_ONLY],
            },
        ),
        (
            {"trigger": {"type": "manual"}, "steps": [nested_conditions(5)]},
            {"steps[0].then[0].then[0].then[0].then[0].then": ["steps nest at most 5 deep"]},
        ),
        (
            {
                "trigger": {"type": "manual"},
                "steps": [{"id": f"s{i}", "type": "stop", "message": "m"} for i in range(201)],
            },
            {"steps": ["a recipe has at most 200 steps"]},
        ),
        (
            {"trigger": {"type": "manual"}, "steps": "none", "settings": {"max_duration_seconds": "soon"}},
            {
                "steps": ["must be a list of steps"],
                "settings.max_duration_seconds": ["must be a whole number"],
            },
        ),
        (
            {"trigger": {"type": "manual"}, "steps": [{"id": "t", "type": "stop", "message": "x" * 20_001}]},
            {"steps[0].message": ["at most 20000 characters"]},
        ),
    ],
)
def test_errors_are_named_by_path_with_the_sentences_people_read(
    given: Any, errors: dict[str, list[str]]
) -> None:
    assert refused(given) == errors


def test_an_empty_step_list_below_the_deepest_level_is_not_nesting_too_deep() -> None:
    deepest = nested_conditions(5)
    innermost = deepest
    for _ in range(4):
        innermost = innermost["then"][0]
    innermost["then"] = []
    assert definition_clean({"trigger": {}, "steps": [deepest]})["steps"][0]["id"] == "c1"


SENTENCES = re.compile(
    r"this field is required|must be text|must be an object( of names to templates)?|at most \d+ characters"
    r"|must be one of .+|must be a whole number|must be between \d+ and \d+|must be a list of steps"
    r"|a (definition is an object with a trigger and steps|recipe needs a trigger|step must be an object)"
    r"|an id is a lower-case letter, then letters, digits or _ \(at most 40\)|.+ is a reserved name"
    r"|the id .+ is used by another step|steps nest at most 5 deep|a recipe has at most 200 steps"
    r"|every name must be non-empty text|a loop variable is a lower-case name that is not reserved"
    r"|not a valid cron expression .+|use five fields: .+|unknown time zone .+|unknown field\(s\): .+"
    r"|secrets may only be used in an http step's headers, query or body|must be JSON data",
    re.S,
)
anything = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.sampled_from(list(STEPS.models))
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["trigger", "steps", "settings", "type", "id", "url", "if", "then", "fields", "as", "cron"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(anything)
def test_whatever_is_sent_is_accepted_or_refused_in_sentences_by_path(raw: Any) -> None:
    try:
        definition_clean(raw)
    except ValidationError as exc:
        for where, messages in exc.message_dict.items():
            assert where == "definition" or re.fullmatch(r"(trigger|steps|settings)[\w.\[\]]*", where), where
            for message in messages:
                assert SENTENCES.fullmatch(message), message


# Defaults: the schema's, not the runners'.

RUNNER_MODULES = ("engine", "steps", "triggers", "schedule", "runtime")


def test_every_field_the_runners_read_has_its_default_in_the_schema() -> None:
    models = [*STEPS.models.values(), *TRIGGERS.models.values(), Settings]
    keys = {info.alias or name for model in models for name, info in model.model_fields.items()}
    keys |= set(Definition.model_fields)
    # A model's part written with the fewest fields carries every other one, at the schema's default.
    for model in models:
        loaded = model.model_validate(minimal(model))
        for name, info in model.model_fields.items():
            if info.is_required():
                continue
            assert getattr(loaded, name) == info.get_default(call_default_factory=True), (model, name)
        dumped = loaded.model_dump(mode="json", by_alias=True)
        # Fields added later are left out at their default (`exclude_if`), so versions stored before
        # them load as the same JSON.
        assert set(dumped) >= {
            info.alias or n
            for n, info in model.model_fields.items()
            if n != "name" and info.exclude_if is None
        }
    # The runners read those fields from the models, never from a definition's JSON with a fallback.
    runs = Path(schema.__file__).parent.parent / "runs"
    for module in RUNNER_MODULES:
        tree = ast.parse((runs / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in keys
            ):
                pytest.fail(f"runs/{module}.py:{node.lineno} reads {node.args[0].value!r} from a dict")


def minimal(model: type[schema.Part]) -> dict[str, Any]:
    """The fewest fields a part of this model can be written with."""
    samples = {"url": "https://api.example.com/", "cron": "* * * * *", "table": "Prices", "key": "k"}
    given: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if name == "type":
            given["type"] = info.default
        elif info.is_required():
            given[key] = "s1" if name == "id" else samples.get(key, "x")
    return given


# A new type is one model more.


@contextmanager
def registered(model: type[Step]) -> Iterator[None]:
    STEPS.register(model)
    try:
        yield
    finally:
        del STEPS.models[schema.type_of(model)]


class NoteStep(Step):
    """A step type a later release might add, with its own field."""

    model_config = {"title": "Write a note"}

    type: Literal["note"] = "note"
    text: Template = Field(title="Note")


def test_a_step_type_is_added_by_registering_its_model() -> None:
    raw = {"trigger": {}, "steps": [{"id": "n", "type": "note", "text": "hello"}]}
    assert refused(raw) == {
        "steps[0].type": [
            "must be one of http, connector, map, lookup_read, lookup_write, condition, foreach, stop,"
            " respond"
        ]
    }
    with registered(NoteStep):
        nested = {
            "id": "c",
            "type": "condition",
            "if": "1",
            "then": [{"id": "n", "type": "note", "text": "hi"}],
        }
        assert definition_clean({"trigger": {}, "steps": [nested]})["steps"][0]["then"] == [
            {"id": "n", "type": "note", "text": "hi"}
        ]
        assert refused({"trigger": {}, "steps": [{"id": "n", "type": "note", "text": "{{ secret.A }}"}]}) == {
            "steps[0].text": [SECRETS_ONLY]
        }
        described = Definition.model_json_schema()["$defs"]
        assert described["AnyStep"]["discriminator"]["mapping"]["note"] == "#/$defs/NoteStep"
        assert [f.label for f in STEPS.fields("note")] == ["Note"]
        assert ("note", "Write a note") in STEPS.labels()
    assert "note" not in STEPS.models
