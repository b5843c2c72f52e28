"""docs/cloudstack-api.md lists every command the API answers, as the code declares it;
every declared parameter has a known type; every command names what its answer holds."""

from __future__ import annotations

from pathlib import Path

from strato.services.cloudstack_api import reference, registry

DOC = Path(__file__).resolve().parents[3] / "docs" / "cloudstack-api.md"


def test_the_command_reference_is_current() -> None:
    generated = reference.markdown()
    text = DOC.read_text()
    start, end = text.index(reference.BEGIN), text.index(reference.END) + len(reference.END)
    assert text[start:end] + "\n" == generated, (
        "docs/cloudstack-api.md is out of date: python -m "
        "strato.services.cloudstack_api.reference, pasted over its Commands section"
    )


def test_every_command_is_declared_soundly() -> None:
    assert len(registry.REGISTRY) >= 90
    for key, cmd in registry.REGISTRY.items():
        assert key == cmd.name.lower()
        names = [p.name.lower() for p in cmd.params]
        assert len(names) == len(set(names)), f"{cmd.name} declares a parameter twice"
        assert cmd.response, f"{cmd.name} names no response fields (listApis shows them)"
        if cmd.name.startswith("list") and cmd.name not in ("listCapabilities",):
            assert cmd.item, f"{cmd.name} names no item key"
    assert not set(registry.UNSUPPORTED) & set(registry.REGISTRY)
