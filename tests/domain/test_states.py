from __future__ import annotations

import pytest

from strato.domain.errors import IllegalTransition
from strato.domain.states import HOST_STATUS, HostStatus


def test_host_connects_from_creating_and_comes_up() -> None:
    assert HOST_STATUS.can(HostStatus.CREATING, HostStatus.CONNECTING)
    assert HOST_STATUS.can(HostStatus.CONNECTING, HostStatus.UP)
    assert HOST_STATUS.can(HostStatus.CONNECTING, HostStatus.ERROR)


def test_host_cannot_skip_connecting() -> None:
    assert not HOST_STATUS.can(HostStatus.CREATING, HostStatus.UP)
    with pytest.raises(IllegalTransition) as err:
        HOST_STATUS.check(HostStatus.CREATING, HostStatus.UP)
    assert "Creating" in err.value.detail and "Up" in err.value.detail


def test_removed_is_terminal() -> None:
    for target in HostStatus:
        assert not HOST_STATUS.can(HostStatus.REMOVED, target)
