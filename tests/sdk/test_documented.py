"""Every public name of the SDK is documented: the package's ``__all__``, and every
public class, function and method of its modules."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import strato.sdk

MODULES = [
    importlib.import_module(f"strato.sdk.{m.name}")
    for m in pkgutil.iter_modules(strato.sdk.__path__)
]


def _public(module: object) -> list[tuple[str, object]]:
    return [
        (name, obj)
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", "") == getattr(module, "__name__", None)
    ]


def test_every_module_and_public_name_has_a_docstring() -> None:
    missing = []
    for module in [strato.sdk, *MODULES]:
        if not (module.__doc__ or "").strip():
            missing.append(module.__name__)
        for name, obj in _public(module):
            if not (obj.__doc__ or "").strip():
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                missing += [
                    f"{module.__name__}.{name}.{m}"
                    for m, fn in vars(obj).items()
                    if not m.startswith("_")
                    and inspect.isfunction(fn)
                    and not (fn.__doc__ or "").strip()
                ]
    assert not missing, f"undocumented: {missing}"


def test_the_package_exports_what_it_says() -> None:
    for name in strato.sdk.__all__:
        assert hasattr(strato.sdk, name), name
    assert {"StratoClient", "AsyncStratoClient", "ApiError", "OperationFailed"} <= set(
        strato.sdk.__all__
    )
