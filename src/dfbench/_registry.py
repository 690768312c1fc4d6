"""One registry class for every component kind (detectors, attacks, defenses, datasets).

Components are factory functions registered by name, timm-style::

    @register_detector("custom_cnn")
    def custom_cnn(**kwargs) -> Detector: ...

Outside packages add components without touching dfbench through entry points, e.g. in
their pyproject.toml::

    [project.entry-points."dfbench.detectors"]
    my_detector = "my_pkg.models:my_detector"

The entry point's name is the component name and its object the factory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from .errors import ConfigError, DfbenchError, UnknownComponentError
from .validate import check_params

log = logging.getLogger(__name__)
T = TypeVar("T")
Factory = Callable[..., T]


class Registry(Generic[T]):
    """Name -> factory map for one kind of component; duplicate names are an error."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._factories: dict[str, Factory[T]] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[Factory[T]], Factory[T]]:
        """Decorator: register ``factory`` under ``name``."""

        def decorator(factory: Factory[T]) -> Factory[T]:
            self.add(name, factory)
            return factory

        return decorator

    def add(self, name: str, factory: Factory[T]) -> None:
        if not name or not name.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"invalid {self.kind} name {name!r}: use letters, digits, '_' and '.'")
        existing = self._factories.get(name)
        if existing is not None and existing is not factory:
            raise ValueError(f"duplicate {self.kind} name {name!r} ({_where(existing)} and {_where(factory)})")
        self._factories[name] = factory

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must not take the whole tool down
                log.warning("could not load %s %r from entry point %s: %s", self.kind, ep.name, ep.value, exc)
                continue
            self.add(ep.name, factory)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._factories

    def get(self, name: str) -> Factory[T]:
        self._load_entry_points()
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownComponentError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def check(self, name: str, params: dict[str, Any], where: str = "", reserved: tuple[str, ...] = ()) -> None:
        """Refuse parameters component ``name`` does not take or of the wrong type (validate.py)."""
        try:
            factory = self.get(name)
        except UnknownComponentError as exc:
            raise UnknownComponentError(f"{where}: {exc}" if where else str(exc)) from None
        check_params(factory, params, where or f"{self.kind} {name!r}", reserved)

    def create(self, name: str, **kwargs: Any) -> T:
        """Build component ``name``; bad parameters become a one-line ConfigError."""
        factory = self.get(name)
        self.check(name, kwargs)
        try:
            return factory(**kwargs)
        except DfbenchError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.kind} {name!r}: {exc}") from exc


def _where(factory: Callable[..., Any]) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}"
