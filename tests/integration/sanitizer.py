"""Which sanitizer the binary under test was built with, and how much to stretch the
deadlines and memory bounds of the heavy tests (test_hostile.py, test_nothing_lost.py,
the 10k-courier slow-viewer test) for it.

PEYK_TEST_TIME_SCALE overrides the time scale (default 1, 3 under ASan, 5 under TSan).
Under a sanitizer the RSS figures are the sanitizer's allocator (ASan's quarantine keeps
freed blocks, TSan adds shadow memory), not peyk's: memory bounds are reported but not
asserted there; LeakSanitizer checks leaks at exit instead."""

import mmap
import os

from conftest import PEYK_BIN


def _detect():
    try:
        with open(PEYK_BIN, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(b"__tsan_init") >= 0:
                return "thread"
            if m.find(b"__asan_init") >= 0:
                return "address"
    except (OSError, ValueError):
        pass
    return None


SANITIZER = _detect()
TIME_SCALE = float(os.environ.get("PEYK_TEST_TIME_SCALE",
                                  {"address": "3", "thread": "5"}.get(SANITIZER, "1")))


def memory_bounds_apply():
    return SANITIZER is None
