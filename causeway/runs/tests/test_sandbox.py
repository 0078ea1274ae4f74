"""The template sandbox (SECURITY-TESTS 21): mappings work over JSON data, and every escape or runaway
attempt is refused, or stopped within a bound, with a TemplateError; nothing escapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from causeway.runs.sandbox import MAX_RANGE, TemplateError, evaluate, render

CONTEXT: dict[str, Any] = {
    "trigger": {"name": "Ada", "total": 42, "items": [1, 2, 3], "tags": {"a": "x"}},
    "steps": {"fetch": {"status": 200, "body": {"id": 7, "keys": ["k1", "k2"]}}},
    "job": {"id": "j-1", "environment": "dev", "is_test": True},
}


def test_template_sandbox_single_expression_keeps_its_native_type() -> None:
    assert render("{{ trigger.items }}", CONTEXT) == [1, 2, 3]
    assert render(" {{ trigger.total + 1 }} ", CONTEXT) == 43
    assert render("{{ trigger.total > 40 }}", CONTEXT) is True
    assert render("{{ none }}", CONTEXT) is None
    assert render("{{ {'who': trigger.name|upper, 'n': 1.5} }}", CONTEXT) == {"who": "ADA", "n": 1.5}
    assert render("{{ (1, 2) }}", CONTEXT) == [1, 2]


def test_template_sandbox_text_templates_render_to_text() -> None:
    assert render("Hello {{ trigger.name }}, {{ trigger.total }}!", CONTEXT) == "Hello Ada, 42!"
    assert render("no template here", CONTEXT) == "no template here"
    assert render("{{ steps.fetch.body.keys|join(',') }}", CONTEXT) == "k1,k2"


def test_template_sandbox_plain_data_methods_and_filters_work() -> None:
    assert render("{{ trigger.name.lower() }}", CONTEXT) == "ada"
    assert render("{{ trigger.get('missing', 'd') }}", CONTEXT) == "d"
    assert render("{{ trigger.items|sum }}", CONTEXT) == 6
    assert render("{{ trigger.items|map('string')|list }}", CONTEXT) == ["1", "2", "3"]
    assert render("{{ range(3)|list }}", CONTEXT) == [0, 1, 2]
    assert render("{{ trigger.missing|default('none') }}", CONTEXT) == "none"
    assert render("{{ trigger.missing is defined }}", CONTEXT) is False
    assert render("{{ trigger['items'][1:] }}", CONTEXT) == [2, 3]
    assert render("{{ trigger|tojson }}", CONTEXT).startswith('{"items"')
    # A key of a dict wins over a method of the same name.
    assert render("{{ steps.fetch.body.keys }}", CONTEXT) == ["k1", "k2"]


def test_template_sandbox_evaluate_takes_a_bare_expression_or_one_template() -> None:
    assert evaluate("trigger.total >= 42 and job.is_test", CONTEXT) is True
    assert evaluate("{{ trigger.items }}", CONTEXT) == [1, 2, 3]


def test_template_sandbox_a_missing_value_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        render("{{ trigger.nope }}", CONTEXT)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ trigger.__class__ }}",
        "{{ trigger['__class__'] }}",
        "{{ trigger.name[('_' * 2) ~ 'class' ~ ('_' * 2)] }}",
        "{{ trigger|attr('__class__') }}",
        "{{ trigger.items|map(attribute='__class__')|list }}",
        "{{ trigger.items|sort(attribute='__class__') }}",
        "{{ ''.mro }}",
        "{{ trigger.name|attr('mro') }}",
        "{{ range.__globals__ }}",
        "{{ range.__call__.__globals__ }}",
        "{{ job.get.__self__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ lipsum }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ namespace(a=1) }}",
        "{{ self.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ self }}",
        "{{ config }}",
        "{{ '{0.__class__}'.format(trigger) }}",
        "{{ '{0.__class__}'.format_map(trigger) }}",
        "{{ ''.format }}",
        "{{ '%s'|format(trigger) }}",
        "{{ '%(a)s' % trigger }}",
        "{{ __builtins__ }}",
        "{{ _ }}",
        "{{ dict(a=1) }}",
        "{{ open('/etc/passwd').read() }}",
        "{{ trigger.items.append(4) }}",
        "{{ trigger.tags.update({'b': 1}) }}",
        "{{ trigger.tags.pop('a') }}",
        "{{ trigger.name.encode('utf-8') }}",
    ],
)
def test_template_sandbox_refuses_reaching_python_internals(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CONTEXT)
    assert CONTEXT["trigger"]["items"] == [1, 2, 3]
    assert CONTEXT["trigger"]["tags"] == {"a": "x"}


@pytest.mark.parametrize(
    "template",
    [
        "{% for x in range(3) %}{{ x }}{% endfor %}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
        "{% from 'os' import system %}",
        "{% extends '/etc/passwd' %}",
        "{% set x = trigger %}{{ x }}",
        "{% set ns = namespace(a=1) %}{% set ns.a = 2 %}",
        "{% if true %}yes{% endif %}",
        "{% with a = 1 %}{{ a }}{% endwith %}",
        "{% filter upper %}x{% endfilter %}",
        "{% call range(3) %}{% endcall %}",
        "{% block b %}{% endblock %}",
    ],
)
def test_template_sandbox_statements_are_refused_when_parsed(template: str) -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        render(template, CONTEXT)


def test_template_sandbox_reads_no_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("file-contents-canary")
    for template in (
        f"{{% include '{secret_file}' %}}",
        f"{{{{ open('{secret_file}').read() }}}}",
        f"{{{{ self._TemplateReference__context.environment.loader.get_source(none, '{secret_file}') }}}}",
    ):
        with pytest.raises(TemplateError) as refused:
            render(template, CONTEXT)
        assert "file-contents-canary" not in str(refused.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [1] * 10**9 }}",
        "{{ 10 * 'x' * 10**8 }}",
        "{{ 2 ** 100000 }}",
        "{{ 9 ** (9 ** 9) }}",
        "{{ (10**1000) * (10**1000) }}",
        "{{ 2.0 ** 100000 }}",
        f"{{{{ range({MAX_RANGE + 1})|list }}}}",
        "{{ range(10**9)|list }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ ([range(5000)|list] * 2000)|tojson }}",
        "{{ [[range(5000)|list] * 100] * 100 }}",
        "{{ ('a' * 5000)|replace('a', 'a' * 5000) }}",
        "{{ (range(10000)|list)|map('string')|join(' ' * 5000) }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
        "{{ [1]|slice(10**9, 'x')|list }}",
        "{{ ([range(10000)|list] * 100)|sum(start=[]) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'x\nx'|indent(10**9) }}",
        "{{ 'x'|wordwrap(1, wrapstring='y' * 10**6) }}",
        "{{ (('a' * 2000000) ~ ('a' * 2000000) ~ ('a' * 2000000)) }}",
        "{{ ((range(10000)|list) * 150)|map('string')|map('list')|list }}",
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    ],
)
def test_template_sandbox_bounds_work_and_size(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CONTEXT)


def test_template_sandbox_refuses_an_overlong_template() -> None:
    with pytest.raises(TemplateError, match="at most"):
        render("x" * 20_001, CONTEXT)


def test_template_sandbox_errors_are_template_errors_not_crashes() -> None:
    for template in (
        "{{ 1 / 0 }}",
        "{{ trigger.items + 1 }}",
        "{{ }}",
        "{{ trigger.name(",
        "{{ 'a'|nosuch }}",
    ):
        with pytest.raises(TemplateError):
            render(template, CONTEXT)


def test_template_sandbox_bounds_work_on_large_input_data() -> None:
    big = {"text": "t" * 1_000_000, "rows": list(range(1_000_000))}
    context = {**CONTEXT, "trigger": big}
    # Passing large data through is fine.
    assert len(render("{{ trigger.rows }}", context)) == 1_000_000
    # Serialising it many times over, or joining it with itself, is not.
    many = "[" + ", ".join(["trigger.rows"] * 60) + "]"
    with pytest.raises(TemplateError, match="too much"):
        render("{{ " + many + "|tojson }}", context)
    with pytest.raises(TemplateError, match="too large"):
        render("{{ " + " ~ ".join(["trigger.text"] * 6) + " }}", context)
    with pytest.raises(TemplateError, match="too much"):
        render("{{ trigger.rows|length }}" * 60, context)


def test_template_sandbox_an_expression_is_exactly_one_expression() -> None:
    with pytest.raises(TemplateError):
        evaluate("1 }}{{ 2", CONTEXT)
    assert evaluate("trigger.name ~ '}}'", CONTEXT) == "Ada}}"
