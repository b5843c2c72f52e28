"""Device facts and settings without a process per device: whether a device exists,
its transmit checksums turned off (what ``ethtool -K DEV tx off`` does, by the ethtool
ioctl), a sysctl of a namespace.

Each runs in a network namespace (``None``: this process's). A namespace is entered by a
thread of its own, which ends with the work: a network namespace is per thread
(``setns(2)``), and a pooled thread would carry it into other work. Devices are looked up
in the namespace of the socket the ioctl goes through, opened inside it; ``/proc/sys/net``
shows the opening thread's namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from strato.drivers.network.base import NetworkError

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
_SIOCETHTOOL = 0x8946
_ETHTOOL_STXCSUM = 0x17
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(netns: str) -> None:
    try:
        fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetworkError(f"network namespace {netns} does not exist") from None
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise NetworkError(f"cannot enter network namespace {netns}: {os.strerror(code)}")
    finally:
        os.close(fd)


async def run_in(netns: str | None, work: Callable[[], T]) -> T:
    """``work()`` inside ``netns``, on a thread made for it (the caller's thread when
    ``netns`` is None: the work is a few system calls)."""
    if netns is None:
        return work()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def body() -> None:
        try:
            _enter(netns)
            result = work()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=body, name=f"netns-{netns}", daemon=True).start()
    return await done


def _existing(names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        try:
            socket.if_nametoindex(name)
        except OSError:
            continue
        found.add(name)
    return found


def _tx_off(names: Iterable[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            value = ctypes.create_string_buffer(struct.pack("II", _ETHTOOL_STXCSUM, 0))
            request = struct.pack("16sP", name.encode(), ctypes.addressof(value))
            request += b"\0" * (40 - len(request))  # struct ifreq's size
            try:
                fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, request)
            except OSError as exc:
                if exc.errno == errno.EOPNOTSUPP:  # no such offload to turn off
                    continue
                raise NetworkError(f"{name}: transmit checksums: {exc.strerror}") from exc


def _write_sysctl(key: str, value: str) -> None:
    with open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
        f.write(value)


async def existing(netns: str | None, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are devices in ``netns``."""
    wanted = list(names)
    return await run_in(netns, lambda: _existing(wanted))


async def tx_checksum_off(netns: str | None, names: Iterable[str]) -> None:
    """Checksums of what ``names`` send computed in software (the userspace datapath
    forwards a veth's partial checksums as they are: TCP and DHCP would break)."""
    wanted = list(names)
    await run_in(netns, lambda: _tx_off(wanted))


async def sysctl(netns: str | None, key: str, value: str) -> None:
    """``sysctl -w key=value`` in ``netns`` (``net.*`` keys are per namespace)."""
    await run_in(netns, lambda: _write_sysctl(key, value))
