#!/usr/bin/env python3
"""Runs a command once the machine is quiet, and says how busy the rest of the machine was
while it ran, for timing on a shared machine:

  python quiet.py [--tries N] COMMAND ARGS...

Waits until the whole machine used < 0.15 cores for 15 s (at most 15 min), runs COMMAND,
then prints (to stderr) `foreign cores` = (all CPU time used on the machine − COMMAND's) / wall time,
from /proc/stat. With --tries N, runs it again (up to N times in all) while that is ≥ 0.1:
a figure is clean when its last line says < 0.1.
"""
import os, resource, subprocess, sys, time

HZ = os.sysconf("SC_CLK_TCK")


def busy_seconds():
    """CPU seconds the machine has spent busy (all cores) since boot."""
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return (sum(v) - v[3] - v[4]) / HZ  # minus idle and iowait


def wait_quiet(max_wait=900, calm_needed=3):
    start, calm = time.time(), 0
    while time.time() - start < max_wait and calm < calm_needed:
        b = busy_seconds()
        time.sleep(5)
        calm = calm + 1 if (busy_seconds() - b) / 5 < 0.15 else 0
    return time.time() - start if calm >= calm_needed else None


def main(argv):
    tries = 1
    if argv[:1] == ["--tries"]:
        tries, argv = int(argv[1]), argv[2:]
    used = 0.0
    for attempt in range(1, tries + 1):
        waited = wait_quiet()
        b, t = busy_seconds(), time.time()
        rc = subprocess.call(argv)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        own, used = ru.ru_utime + ru.ru_stime - used, ru.ru_utime + ru.ru_stime
        wall = time.time() - t
        foreign = (busy_seconds() - b - own) / wall
        quiet = f"after {waited:.0f} s quiet" if waited is not None else "never quiet (15 min)"
        print(f"[quiet] attempt {attempt}: {quiet}; wall {wall:.1f} s; own cores {own / wall:.2f}; "
              f"foreign cores {foreign:.2f}; loadavg {' '.join(f'{l:.2f}' for l in os.getloadavg())}",
              file=sys.stderr, flush=True)
        if rc != 0 or foreign < 0.1:
            return rc
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
