"""The template sandbox for recipe mappings: Jinja2 expressions over JSON data, and nothing else.

A recipe's author writes the templates and a job's data fills them, so both are untrusted. Three walls:

- Expressions only. A template is text with `{{ expression }}` parts; statements (`{% for %}`,
  `{% macro %}`, `{% set %}`, `{% include %}`, `{% import %}`, ...) are refused when it is parsed, so a
  template cannot loop, recurse or load another file, and every expression in it runs once.
- Data only. Names are the context (trigger, steps, job, the loop variable, `secret` where allowed)
  and a capped `range`; attributes are a dict's keys and a short list of plain string, list and dict
  methods. Anything starting with `_`, `mro`, `format` and the rest of Python's object model is
  refused; Jinja's own helpers (`lipsum`, `cycler`, `joiner`, `namespace`, `self`) are not there.
- Bounded work. Repetition, `**`, `+`, and the filters and method calls that build values are checked
  before or as they allocate; every value a filter, call or operator makes is weighed (its size, nested
  values included) against a per-value cap and a per-render budget, so a template cannot exhaust
  memory, and since it has no loops of its own, its work is bounded by what those caps let it make.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import time
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from types import GeneratorType
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

MAX_TEMPLATE = 20_000
# The weight of one value: characters of its text plus one per number, list item or dict entry,
# nested values included. About the size of its JSON.
MAX_VALUE_WEIGHT = 5_000_000
# What one render may do in all: the weights of every value it builds, and of every value handed to
# a filter, test or method (what they read).
MAX_RENDER_BUDGET = 20_000_000
MAX_OUTPUT = 5_000_000
# And however little it builds, a render that goes on this long is stopped at its next operation.
MAX_RENDER_SECONDS = 5.0
MAX_RANGE = 10_000
MAX_INT_BITS = 4096
MAX_EXPONENT = 1024

# Python's object model, refused at parse time and again at run time, whatever the object.
_FORBIDDEN_ATTRIBUTES = frozenset(
    {"mro", "format", "format_map", "func_globals", "func_code", "gi_frame", "gi_code", "cr_frame"}
)
_FORBIDDEN_NAMES = frozenset(
    {"self", "lipsum", "cycler", "joiner", "namespace", "caller", "varargs", "kwargs", "dict", "range_"}
)
_STR_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "splitlines",
        "startswith",
        "endswith",
        "title",
        "capitalize",
        "find",
        "rfind",
        "count",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "islower",
        "isupper",
        "removeprefix",
        "removesuffix",
    }
)
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})
_LIST_METHODS = frozenset({"index", "count"})
# Filters that make text far larger than their input from a small argument, or that format with
# Python's `%`/`format` (widths, attribute lookups), or make HTML: not offered.
_REMOVED_FILTERS = frozenset({"format", "center", "indent", "wordwrap", "xmlattr", "urlize"})
_TEMPLATE_START = re.compile(r"^\s*\{\{")
_CONCAT = "sandbox_concat"


class TemplateError(Exception):
    """A template that is refused, does not parse, or fails while it renders. The message names the
    problem, never a value."""


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_RENDER_BUDGET
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        # id -> (the object, kept alive so its id is not reused; its weight).
        self.weights: dict[int, tuple[Any, int]] = {}

    def charge(self, weight: int) -> None:
        self.left -= weight
        if self.left < 0:
            raise TemplateError("the template does too much work (it builds too much data)")
        if time.monotonic() > self.deadline:
            raise TemplateError(f"the template took longer than {MAX_RENDER_SECONDS:g} seconds")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "causeway_sandbox_budget", default=None
)


def _current_budget() -> _Budget:
    budget = _budget.get()
    if budget is None:
        # Called outside render() (which always sets one): a budget of its own, still bounded.
        budget = _Budget()
        _budget.set(budget)
    return budget


_CACHED_FROM = 256


def weigh(value: Any, limit: int = MAX_VALUE_WEIGHT) -> int:
    """The weight of value, counting shared parts each time they appear; TemplateError past limit.

    Stops as soon as the limit is passed, so weighing costs at most `limit` steps. Within one render a
    large list or dict is weighed once (nothing in a template can change it), so reading the same
    input data again costs its weight in budget but not in time.
    """
    budget = _current_budget()
    known = budget.weights
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += max(1, len(item))
        elif isinstance(item, dict | list | tuple | Mapping | set | frozenset):
            cached = known.get(id(item))
            if cached is not None and cached[0] is item:
                total += cached[1]
            elif item is not value and isinstance(item, dict | list | tuple) and len(item) >= _CACHED_FROM:
                total += weigh(item, limit - total)  # weighed (and remembered) on its own
            else:
                total += 1 + len(item)
                if isinstance(item, Mapping):
                    stack.extend(k for k in item.keys() if not isinstance(k, int | float | bool))
                    stack.extend(v for v in item.values() if not isinstance(v, int | float | bool | None))
                else:
                    stack.extend(v for v in item if not isinstance(v, int | float | bool | None))
        elif isinstance(item, range):
            total += 1 + len(item)
        else:
            total += 1
        if total > limit:
            raise TemplateError("a value in the template is too large")
    if isinstance(value, dict | list | tuple) and len(value) >= _CACHED_FROM:
        known[id(value)] = (value, total)
    return total


_SCALARS = (int, float, bool, type(None))


def _quick_weight(value: Any) -> int:
    if isinstance(value, _SCALARS):
        return 1
    if isinstance(value, str):
        return max(1, len(value))
    return weigh(value)


def _settle(value: Any) -> Any:
    """A lazy result (generator, iterator, dict view) as a list, weighed and charged as it is read."""
    if isinstance(value, GeneratorType | Iterator | KeysView | ValuesView | ItemsView):
        budget = _current_budget()
        items: list[Any] = []
        weight = 1
        for item in value:
            item_weight = _quick_weight(item)
            weight += 1 + item_weight
            budget.charge(1 + item_weight)
            if weight > MAX_VALUE_WEIGHT:
                raise TemplateError("a value in the template is too large")
            items.append(item)
        return items
    return value


def _checked(value: Any) -> Any:
    value = _settle(value)
    _current_budget().charge(_quick_weight(value))
    return value


def _charge_reading(args: Any, kwargs: dict[str, Any]) -> None:
    """Charge what a filter, test or method is handed: serialising or scanning it costs its weight."""
    budget = _current_budget()
    data = [a for a in (*args, *kwargs.values()) if isinstance(a, str | dict | list | tuple)]
    if not data:
        budget.charge(1)
        return
    try:
        budget.charge(1 + weigh(data, limit=max(0, budget.left)))
    except TemplateError:
        raise TemplateError("the template does too much work (it reads too much data)") from None


def _concat(items: list[Any]) -> str:
    """`a ~ b`: the same as Jinja's, but each part's text is checked as it is made."""
    parts: list[str] = []
    total = 0
    for item in items:
        text = str(item)
        total += len(text)
        if total > MAX_VALUE_WEIGHT:
            raise TemplateError("~ would make a text too large")
        parts.append(text)
    return "".join(parts)


class _Rewrite(NodeTransformer):
    """`a ~ b ~ c` becomes a guarded filter call, so its work is charged like any other."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(
            nodes.List(list(node.nodes), lineno=node.lineno), _CONCAT, [], [], None, None, lineno=node.lineno
        )


def _guard(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test that charges its work and weighs what it makes."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _charge_reading(args, kwargs)
        return _checked(function(*args, **kwargs))

    return guarded


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _safe_replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, old, new = str(value), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    if len(text) + found * max(0, len(new) - len(old)) > MAX_VALUE_WEIGHT:
        raise TemplateError("replace would make a text too large")
    return FILTERS["replace"](eval_ctx, value, old, new, count)


_safe_replace.jinja_pass_arg = FILTERS["replace"].jinja_pass_arg  # type: ignore[attr-defined]


def _safe_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = value if isinstance(value, list | tuple) else _settle(iter(value))
    total = _text_len(d) * max(0, len(items) - 1)
    for item in items:
        total += _text_len(item)
        if total > MAX_VALUE_WEIGHT:
            raise TemplateError("join would make a text too large")
    return FILTERS["join"](eval_ctx, items, d, attribute)


_safe_join.jinja_pass_arg = FILTERS["join"].jinja_pass_arg  # type: ignore[attr-defined]


def _safe_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    if not isinstance(linecount, int) or not 1 <= linecount <= MAX_RANGE:
        raise TemplateError(f"batch takes a size from 1 to {MAX_RANGE}")
    return FILTERS["batch"](value, linecount, fill_with)


def _safe_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    if not isinstance(slices, int) or not 1 <= slices <= MAX_RANGE:
        raise TemplateError(f"slice takes a count from 1 to {MAX_RANGE}")
    return FILTERS["slice"](value, slices, fill_with)


def _safe_sum_numbers(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    values = (
        [environment.getitem(item, attribute) for item in _settle(iter(iterable))]
        if attribute is not None
        else _settle(iter(iterable))
    )
    if not isinstance(start, int | float) or isinstance(start, bool):
        raise TemplateError("sum adds numbers only")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise TemplateError("sum adds numbers only")
    return sum(values, start)


_safe_sum_numbers.jinja_pass_arg = FILTERS["sum"].jinja_pass_arg  # type: ignore[attr-defined]


def _range(*args: Any) -> range:
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise TemplateError("range takes whole numbers")
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateError(f"range gives at most {MAX_RANGE} numbers")
    _current_budget().charge(1 + len(result))
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateError("a number in the template is too large")
    if isinstance(value, complex):
        raise TemplateError("that gives a complex number")
    return value


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or attr in _FORBIDDEN_ATTRIBUTES:
            return False
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, Mapping):
            return attr in _DICT_METHODS
        if isinstance(obj, list | tuple):
            return attr in _LIST_METHODS
        return False

    def _refuse(self, attr: Any) -> None:
        if isinstance(attr, str) and (attr.startswith("_") or attr in _FORBIDDEN_ATTRIBUTES):
            raise SecurityError(f"access to {attr!r} is not allowed in a template")

    def getattr(self, obj: Any, attribute: str) -> Any:
        self._refuse(attribute)
        if isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
        if isinstance(obj, Undefined):
            return obj  # keeps the first missing name in the message
        if self.is_safe_attribute(obj, attribute, None):
            return getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self._refuse(argument)
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, Mapping):
            if argument in obj:
                return obj[argument]
            return self.undefined(obj=obj, name=argument)
        if isinstance(obj, str | list | tuple | range):
            if isinstance(argument, int | slice) and not isinstance(argument, bool):
                try:
                    return _checked(obj[argument])
                except IndexError:
                    return self.undefined(obj=obj, name=str(argument))
            if isinstance(argument, str):
                return self.getattr(obj, argument)
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        allowed = __obj is _range or (
            owner is not None
            and not isinstance(owner, type)
            and __self.is_safe_attribute(owner, getattr(__obj, "__name__", ""), None)
        )
        if not allowed:
            raise SecurityError("only range() and plain text, list and dict methods may be called")
        _charge_reading((owner, *args), kwargs)
        return _checked(__context.call(__obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                if times > 0 and weigh(sequence) * times > MAX_VALUE_WEIGHT:
                    raise TemplateError("repetition would make a value too large")
            elif isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateError("a number in the template is too large")
        elif operator == "**":
            if not (_is_number(left) and _is_number(right)):
                raise TemplateError("** takes numbers")
            if abs(right) > MAX_EXPONENT or (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and left.bit_length() * right > MAX_INT_BITS
            ):
                raise TemplateError("** would make a number too large")
        elif operator == "%":
            # Text % values is Python's printf formatting (widths, precisions): numbers only.
            if not (_is_number(left) and _is_number(right)):
                raise TemplateError("% takes numbers (the remainder); join text with ~")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                if weigh(left) + weigh(right) > MAX_VALUE_WEIGHT:
                    raise TemplateError("+ would make a value too large")
        try:
            result = self.binop_table[operator](left, right)
        except OverflowError:
            raise TemplateError("a number in the template is too large") from None
        return _checked(_check_int(result))


def _finalize(value: Any) -> Any:
    _current_budget().charge(weigh(value))
    return value


def _make_environment() -> _Environment:
    environment = _Environment(
        undefined=StrictUndefined,
        autoescape=False,
        optimized=False,  # no constant folding: nothing runs while a template compiles
        finalize=_finalize,
        cache_size=0,
    )
    environment.globals.clear()
    environment.globals["range"] = _range
    tests: dict[str, Any] = dict(TESTS)
    filters: dict[str, Any] = {
        name: function for name, function in FILTERS.items() if name not in _REMOVED_FILTERS
    }
    filters |= {
        "replace": _safe_replace,
        "join": _safe_join,
        "batch": _safe_batch,
        "slice": _safe_slice,
        "sum": _safe_sum_numbers,
        _CONCAT: _concat,
    }
    environment.filters = {name: _guard(function) for name, function in filters.items()}
    environment.tests = {name: _guard(test) for name, test in tests.items()}
    return environment


_environment = _make_environment()
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Expr,
    nodes.Keyword,
    nodes.Pair,
    nodes.Operand,
)


def _check_tree(tree: nodes.Node) -> None:
    """Refuse statements, forbidden names and attributes; called on every template before it compiles."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
            raise TemplateError(
                f"statements ({{% ... %}}) are not allowed in a template, only {{{{ expressions }}}}: "
                f"line {node.lineno}"
            )
        if not isinstance(node, _ALLOWED_NODES) or isinstance(node, nodes.NSRef):
            raise TemplateError(f"{type(node).__name__} is not allowed in a template")
        if isinstance(node, nodes.Name):
            if node.ctx != "load" or node.name in _FORBIDDEN_NAMES or node.name.startswith("_"):
                raise TemplateError(f"the name {node.name!r} is not allowed in a template")
        if isinstance(node, nodes.Getattr) and (
            node.attr.startswith("_") or node.attr in _FORBIDDEN_ATTRIBUTES
        ):
            raise TemplateError(f"access to {node.attr!r} is not allowed in a template")
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and (node.arg.value.startswith("_") or node.arg.value in _FORBIDDEN_ATTRIBUTES)
        ):
            raise TemplateError(f"access to {node.arg.value!r} is not allowed in a template")


def _parse(source: str) -> nodes.Template:
    if not isinstance(source, str):
        raise TemplateError("a template is text")
    if len(source) > MAX_TEMPLATE:
        raise TemplateError(f"a template is at most {MAX_TEMPLATE} characters")
    try:
        tree = _environment.parse(source)
    except JinjaTemplateError as exc:
        raise TemplateError(f"the template does not parse: {exc.message}") from None
    except (RecursionError, MemoryError, ValueError):
        raise TemplateError("the template is too deeply nested or too large") from None
    _check_tree(tree)
    return tree


def _template(tree: nodes.Template) -> Any:
    try:
        return _environment.from_string(tree)
    except JinjaTemplateError as exc:
        raise TemplateError(f"the template does not parse: {exc.message}") from None
    except (RecursionError, MemoryError, SyntaxError, ValueError):
        raise TemplateError("the template is too deeply nested or too large") from None


def _single_expression(tree: nodes.Template) -> nodes.Expr | None:
    parts = [
        part
        for output in tree.body
        if isinstance(output, nodes.Output)
        for part in output.nodes
        if not (isinstance(part, nodes.TemplateData) and not part.data.strip())
    ]
    if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
        return parts[0]
    return None


def _expression(expr: nodes.Expr) -> Any:
    # What Environment.compile_expression builds, from the checked and rewritten tree.
    assign = nodes.Assign(nodes.Name("result", "store", lineno=1), expr, lineno=1)
    return TemplateExpression(_template(nodes.Template([assign], lineno=1)), undefined_to_none=False)


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> tuple[str, Any]:
    """("expression", compiled) for a template that is one {{ expr }}; else ("text", a Template)."""
    tree = _Rewrite().visit(_parse(source))
    expr = _single_expression(tree)
    if expr is not None:
        return "expression", _expression(expr)
    return "text", _template(tree)


@functools.lru_cache(maxsize=512)
def _compiled_expression(expression: str) -> Any:
    if not isinstance(expression, str):
        raise TemplateError("an expression is text")
    if len(expression) > MAX_TEMPLATE:
        raise TemplateError(f"an expression is at most {MAX_TEMPLATE} characters")
    tree = _Rewrite().visit(_parse("{{ " + expression + " }}"))
    expr = _single_expression(tree)
    if expr is None:
        raise TemplateError("an expression is one expression, without {{ }} or text around it")
    return _expression(expr)


def jsonable(value: Any) -> Any:
    """A template's native value as JSON data: tuples and ranges become lists, Markup plain text."""
    if isinstance(value, Undefined):
        # Raises the undefined error (StrictUndefined): a missing value is a mistake to report.
        str(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset):
        return [jsonable(item) for item in value]
    raise TemplateError(f"a template gave a {type(value).__name__}, which is not data")


def _run(function: Callable[[], Any]) -> Any:
    token = _budget.set(_Budget())
    try:
        return function()
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"refused: {exc}") from None
    except JinjaTemplateError as exc:
        raise TemplateError(exc.message or type(exc).__name__) from None
    except (RecursionError, MemoryError):
        raise TemplateError("the template does too much work") from None
    except Exception as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)


def render(template: str, context: dict[str, Any]) -> Any:
    """The template rendered over context. A template that is exactly one `{{ expr }}` (white space
    around it aside) gives the expression's value as JSON data (list, dict, number, bool, None), any
    other gives text."""
    kind, compiled = _compiled(template)
    if kind == "expression":
        return _run(lambda: jsonable(_checked(compiled(**context))))

    def text() -> str:
        output = compiled.render(**context)
        if len(output) > MAX_OUTPUT:
            raise TemplateError(f"the template's output is longer than {MAX_OUTPUT} characters")
        return str(output)

    return _run(text)


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """The value of an expression (`trigger.total > 10`), or of a template that is one `{{ expr }}`."""
    if isinstance(expression, str) and _TEMPLATE_START.match(expression):
        return render(expression, context)
    compiled = _compiled_expression(expression)
    return _run(lambda: jsonable(_checked(compiled(**context))))


def is_template(value: str) -> bool:
    """Whether text holds template syntax at all (plain text renders to itself)."""
    return "{{" in value or "{%" in value or "{#" in value
