"""One check for every number and parameter read from a file or an option.

Numbers: finite, in range, integers where an integer is meant (a boolean is not a number:
Python's ``True`` is an ``int``, TOML's ``true`` must not run as 1 step). Parameters of a
registered component: the names its factory takes and the types its signature declares,
followed through ``**kwargs`` into the class the factory returns. Every error names where the
value came from (file and key) in one line.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from .errors import ConfigError

MAX_INT = 2 ** 53  # larger integers lose precision as JSON numbers and in float arithmetic
MAX_DEPTH = 32  # nesting of a grid, card, entry or baseline: far past any real one, far below Python's stack


def show(value: Any, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters (a 400-digit number is not shown whole)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit conversion limit
        return f"<a {type(value).__name__} too large to show>"
    return text if len(text) <= width else f"{text[:width - 3]}..."


def integer(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``; floats (2.5, and 2.0 too), booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{where} must be an integer, got {show(value)}")
    value = int(value)
    if abs(value) > MAX_INT:
        raise ConfigError(f"{where} must be within +-2**53, got {show(value)}")
    return _in_range(value, where, lo, hi)


def real(value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a finite float in ``[lo, hi]``; NaN, infinities, booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{where} must be a number, got {show(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{where} must be a finite number, got {show(value)}")
    return _in_range(number, where, lo, hi)


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {show(value)}")
    return value


def _in_range(value, where: str, lo, hi):
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"in {lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None \
            else f"<= {hi}"
        raise ConfigError(f"{where} must be {bounds}, got {show(value)}")
    return value


def check_tree(doc: Any, where: str, depth: int = 0, nan_ok: bool = False) -> None:
    """Every number in a parsed document (nested dicts and lists) finite and within +-2**53, and the
    nesting at most :data:`MAX_DEPTH` deep; the first offender is named by its key path."""
    if depth > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(doc, dict):
        for key, value in doc.items():
            check_tree(value, f"{where}: {key}" if depth == 0 else f"{where}.{key}", depth + 1, nan_ok)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            check_tree(value, f"{where}[{i}]", depth + 1, nan_ok)
    elif isinstance(doc, bool) or doc is None or isinstance(doc, str):
        return
    elif isinstance(doc, int):
        integer(doc, where)
    elif isinstance(doc, float) and not math.isfinite(doc) and not (nan_ok and math.isnan(doc)):
        raise ConfigError(f"{where} must be a finite number, got {show(doc)}")


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    if isinstance(fn, type):  # a class registered as its own factory: its __init__'s hints, not its fields'
        fn = _init(fn)
    elif not inspect.isroutine(fn):  # a callable object: its __call__'s
        fn = type(fn).__call__
    try:
        return typing.get_type_hints(fn)
    except Exception:  # a forward reference that does not resolve: fall back to no type checks
        return {}


def parameters(factory: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """``(name -> type hint, open)``: the keyword parameters ``factory`` takes, following its
    ``**kwargs`` into the ``__init__`` of the class it is annotated to return; ``open`` when
    some ``**kwargs`` stays unresolved (then any name is taken)."""
    try:
        return _cached_parameters(factory)
    except TypeError:  # an unhashable callable: not cached
        return _parameters(factory)


def _parameters(factory: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    found: dict[str, Any] = {}
    for fn in _chain(factory):
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return found, True
        hints = _hints(fn)
        found.update({n: hints.get(n, Any) for n, p in params.items()
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self" and n not in found})
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return found, False
    return found, True


_cached_parameters = functools.cache(_parameters)  # signatures do not change; get_type_hints costs ~0.5 ms


def _init(cls: type) -> Callable[..., Any]:
    return next(vars(c)["__init__"] for c in cls.__mro__ if "__init__" in vars(c))


def _chain(factory: Callable[..., Any]) -> Iterable[Callable[..., Any]]:
    """The factory, then the ``__init__`` of the class it returns (where the factory's ``**kwargs`` go)."""
    yield factory
    returned = None if isinstance(factory, type) else _hints(factory).get("return")
    if isinstance(returned, type) and _init(returned) is not object.__init__:
        yield _init(returned)


def check_params(factory: Callable[..., Any], params: dict[str, Any], where: str,
                 reserved: Iterable[str] = ()) -> None:
    """Refuse parameters ``factory`` does not take, keys the runner sets itself (``reserved``),
    and values of the wrong type where the signature declares int, float, bool or str."""
    taken = set(reserved) & set(params)
    if taken:
        raise ConfigError(f"{where}: {', '.join(sorted(taken))} is set by dfbench itself, not in the file")
    known, open_ = parameters(factory)
    unknown = sorted(set(params) - set(known))
    if unknown and not open_:
        allowed = sorted(set(known) - set(reserved))
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    for name, value in params.items():
        _check_type(value, known.get(name, Any), f"{where}: {name}")


_CHECKS: dict[Any, Callable[[Any, str], Any]] = {int: integer, float: real, bool: boolean}


def _check_type(value: Any, hint: Any, where: str) -> None:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None and type(None) in options:
        return
    checks = [_CHECKS[o] for o in options if o in _CHECKS]
    if str in options and isinstance(value, str) or not checks:
        return
    if isinstance(value, list) and any(o is list or typing.get_origin(o) is list for o in options):
        return  # a list where the signature allows one (a range [lo, hi]): the component checks its items
    errors = []
    for check in checks:
        try:
            check(value, where)
            return
        except ConfigError as exc:
            errors.append(exc)
    raise errors[0]


def parse_eps(value: Any, where: str) -> float:
    """An eps from a file or option: a number, or a fraction like ``"8/255"``; finite and >= 0, else a
    one-line ConfigError. Strings are parsed with ``float`` (``1e99999999`` is inf at once, where a
    Fraction would build a hundred-million-digit integer)."""
    number = value
    if isinstance(value, str):
        parts = value.replace(" ", "").split("/")
        try:
            numbers_ = [float(p) for p in parts] if 1 <= len(parts) <= 2 else []
            number = numbers_[0] / numbers_[1] if len(numbers_) == 2 else numbers_[0]
        except (ValueError, IndexError, ZeroDivisionError):
            raise ConfigError(f"{where}: eps {show(value)} is not a number or a fraction like '8/255'") from None
    try:
        return real(number, f"{where}: eps", lo=0)
    except ConfigError:
        raise ConfigError(f"{where}: eps {show(value)} is not a finite number >= 0 (write e.g. 8/255)") from None


def check_keys(table: dict, allowed: set[str], where: str) -> None:
    """Refuse keys of a table that are not ``allowed``, naming them and the allowed ones."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def require(table: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``table[key]``, which must be there and of ``kind`` (a bool is not an int), else a one-line error."""
    if key not in table:
        raise ConfigError(f"{where}: missing '{key}'")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value
