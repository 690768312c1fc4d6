"""A detector from a Python file or module, with no package and no entry point: ``--model``.

``path/to/file.py:factory`` or ``package.module:factory`` (or ``hf:path/to/dir``, a Hugging Face
classifier folder: detectors/hf): the factory returns a Detector, or an
``nn.Module`` (taken as RGB in [0, 1] -> two logits, fake = 1; a model with other conventions
returns ``dfbench.wrap(model, mean=..., ...)``). It is registered under ``<stem>.<factory>``,
and its source's sha256 travels with every record and entry made with it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Detector, detectors
from .wrapped import wrap

HF_PREFIX = "hf:"
_LOADED: dict[str, tuple[str, str]] = {}  # source -> (registered name, sha256 of its file)


def _import(source: str) -> tuple[Callable[..., Any], Path | None]:
    path: Path | None
    target, sep, attr = source.rpartition(":")
    if not sep or not target or not attr.isidentifier():
        raise ConfigError(f"--model {source!r}: expected path/to/file.py:factory or package.module:factory")
    try:
        if target.endswith(".py"):
            path = Path(target).resolve()
            if not path.is_file():
                raise ConfigError(f"--model {source!r}: no such file {path}")
            name = f"dfbench_model_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"--model {source!r}: {path} cannot be imported as a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
            file = getattr(module, "__file__", None)
            path = Path(file) if file else None
    except ConfigError:
        raise
    except Exception as exc:  # the user's code failed to import: its message, on one line
        raise ConfigError(f"--model {source!r}: importing it raised {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"--model {source!r}: {target} has no callable {attr!r}")
    return factory, path


def _signature(factory: Callable[..., Any]) -> inspect.Signature:
    """The user's factory's parameters plus ``input_size`` (dfbench passes it; ``make`` takes it), so a
    grid's parameters are checked against what the factory really takes (validate.check_params)."""
    params = [p for p in inspect.signature(factory).parameters.values() if p.name != "input_size"]
    size = inspect.Parameter("input_size", inspect.Parameter.KEYWORD_ONLY, default=(64, 64))
    keywords = [p for p in params if p.kind == p.VAR_KEYWORD]
    rest = [p.replace(kind=p.KEYWORD_ONLY) if p.kind == p.POSITIONAL_OR_KEYWORD else p for p in params
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.POSITIONAL_ONLY)]
    return inspect.Signature([*rest, size, *keywords])


def register_model(source: str) -> tuple[str, str]:
    """Register the factory named by ``source`` (once) and return its detector name and the
    sha256 of its source file (of a Hugging Face folder's files, for ``hf:path/to/dir``)."""
    if source.startswith(HF_PREFIX):
        return _register_huggingface(source)
    target, _, attr = source.rpartition(":")
    key = f"{Path(target).resolve()}:{attr}" if target.endswith(".py") else source  # one file, however named
    if key in _LOADED:
        return _LOADED[key]
    factory, path = _import(source)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else ""
    stem = path.stem if path is not None and source.rpartition(":")[0].endswith(".py") else \
        source.rpartition(":")[0]
    name = re.sub(r"[^A-Za-z0-9_.]", "_", f"{stem}.{source.rpartition(':')[2]}")
    takes_size = "input_size" in inspect.signature(factory).parameters or any(
        p.kind == p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())

    def make(input_size: tuple[int, int] = (64, 64), **kwargs: Any) -> Detector:
        try:
            made = factory(input_size=input_size, **kwargs) if takes_size else factory(**kwargs)
        except Exception as exc:  # the user's factory failed: its message, on one line
            raise ConfigError(f"--model {source!r}: the factory raised {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        try:
            return wrap(made, input_size=input_size)
        except TypeError as exc:
            raise ConfigError(f"--model {source!r}: the factory returned {type(made).__name__}: {exc}") from None

    make.__qualname__ = make.__name__ = name
    make.__signature__ = _signature(factory)  # type: ignore[attr-defined]  # the user's parameters, for checks
    make.__annotations__ = {k: v for k, v in getattr(factory, "__annotations__", {}).items() if k != "return"}
    _add(source, key, name, make, digest)
    return name, digest


def _add(source: str, key: str, name: str, make: Callable[..., Detector], digest: str) -> None:
    taken = next((other for other, (n, _) in _LOADED.items() if n == name), None)
    if taken is not None or name in detectors:
        raise ConfigError(f"--model {source!r}: its name {name!r} is taken "
                          f"({'by ' + repr(taken) if taken else 'by a registered detector'}); rename the file, "
                          "folder or factory")
    detectors.add(name, make)
    _LOADED[key] = name, digest


def _register_huggingface(source: str) -> tuple[str, str]:
    """``hf:path/to/dir``: a transformers classifier folder (detectors/hf), named ``hf.<folder name>``."""
    from .hf import folder_digest, load_huggingface
    from .hf.detector import check_folder

    folder = Path(source.removeprefix(HF_PREFIX)).resolve()
    key = f"{HF_PREFIX}{folder}"
    if key in _LOADED:
        return _LOADED[key]
    check_folder(folder)
    name = re.sub(r"[^A-Za-z0-9_.]", "_", f"hf.{folder.name}")

    def make(input_size: tuple[int, int] | None = None, fake_labels: list[str] | None = None,
             real_label: str | None = None) -> Detector:
        return load_huggingface(folder, fake_labels, real_label, input_size)

    make.__qualname__ = make.__name__ = name
    digest = folder_digest(folder)
    _add(source, key, name, make, digest)
    return name, digest
