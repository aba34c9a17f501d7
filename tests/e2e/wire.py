#!/usr/bin/python3
"""A userspace link emulator for the end-to-end fault tests: "netem in userspace".

Why: the kernels these tests run on may have no sch_netem (`tc qdisc add ... netem` answers
"Specified qdisc kind is unknown") and no iptables or nftables either, but /dev/net/tun works.
So every host namespace gets a TUN device (wire0, 10.77.0.i/24): its /24 route sends every packet
for another host into the TUN, where this process reads it, and writes it into the TUN of the
host that owns the destination address, unchanged (no checksum to fix), after the model:

- a one-way delay, plus a uniform jitter in [0, jitter] drawn for each packet: with jitter,
  packets overtake each other (reordering);
- a loss probability for each packet;
- a duplication probability: the copy gets its own delay and jitter, so it may arrive first;
- partitions: hosts in groups; a packet between two groups is dropped (both ways).

One model for every link. Randomness comes from random.Random(seed), but which packets meet
which draw depends on the real processes' timing: a seed reproduces the model, not the run.

The wire runs as a thread of the test process (Wire.start); the test changes the model while it
runs (set_model, partition, heal) under a lock. Counters: packets forwarded (written to their
destination), lost, duplicated, dropped by a partition, unroutable (not IPv4, or to an address
no host has), and dropped because the queue of delayed packets was full (a bound on memory).

Only IPv4 is forwarded; IPv6 packets the kernel sends on its own (router solicitations) are
counted as unroutable and dropped.
"""

import ctypes
import errno
import fcntl
import heapq
import os
import random
import select
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

PREFIX = "10.77.0."  # host i is PREFIX + str(i), i in 1..254
MAX_QUEUED = 20000   # delayed packets held at most (about 30 MB at 1500 bytes)

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def open_tun(netns, name="wire0"):
    """A TUN device named `name` made inside network namespace `netns` (by name, as `ip netns`
    knows it); returns its file descriptor, non-blocking. The calling thread enters the
    namespace only while the device is made (setns acts on the calling thread alone)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    fd = -1
    try:
        _setns(target)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError:
            if fd >= 0:
                os.close(fd)
            raise
        finally:
            _setns(home)  # back home even if the device could not be made
    finally:
        os.close(target)
        os.close(home)
    return fd


class Model:
    """What every link does to a packet. Times in seconds, probabilities in [0, 1]."""

    def __init__(self, delay=0.0, jitter=0.0, loss=0.0, duplicate=0.0):
        self.delay, self.jitter, self.loss, self.duplicate = delay, jitter, loss, duplicate

    def __repr__(self):
        return (f"Model(delay={self.delay:.3f}, jitter={self.jitter:.3f}, loss={self.loss:.2f}, "
                f"duplicate={self.duplicate:.2f})")


class Wire:
    COUNTERS = ("forwarded", "lost", "duplicated", "partitioned", "unroutable", "overflow")

    def __init__(self, seed, model=None):
        self.rng = random.Random(seed)
        self.model = model or Model()
        self.lock = threading.Lock()
        self.fds = {}      # host index -> TUN fd
        self.by_ip = {}    # destination address (4 bytes) -> host index
        self.group = {}    # host index -> partition group (all 0: no partition)
        self.stats = dict.fromkeys(self.COUNTERS, 0)
        self.queue = []    # (when, sequence number, host index, packet)
        self.seq = 0
        self.error = None  # an exception that stopped the thread
        self.thread = None
        self.stopping = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    def add_host(self, index, netns, prefix_len=24):
        """Makes wire0 in netns with address PREFIX+index and brings it up."""
        fd = open_tun(netns)
        addr = PREFIX + str(index)
        for args in (["addr", "add", f"{addr}/{prefix_len}", "dev", "wire0"],
                     ["link", "set", "wire0", "up"]):
            subprocess.run(["ip", "-n", netns] + args, check=True, capture_output=True,
                           timeout=20)
        with self.lock:
            self.fds[index] = fd
            self.by_ip[bytes(int(x) for x in addr.split("."))] = index
            self.group[index] = 0
        self._wake()
        return addr

    # Control, from any thread.

    def set_model(self, model):
        with self.lock:
            self.model = model

    def partition(self, cut):
        """Hosts in `cut` form one group, every other host the other."""
        with self.lock:
            for i in self.group:
                self.group[i] = 1 if i in cut else 0

    def heal(self):
        with self.lock:
            for i in self.group:
                self.group[i] = 0

    def counters(self):
        with self.lock:
            return dict(self.stats)

    def start(self):
        self.thread = threading.Thread(target=self._run, name="wire", daemon=True)
        self.thread.start()

    def stop(self):
        """Stops the thread and closes every TUN (the devices go with their last fd)."""
        self.stopping = True
        self._wake()
        if self.thread:
            self.thread.join(5)
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        for fd in (self.wake_r, self.wake_w):
            os.close(fd)

    def _wake(self):
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:
            pass

    # The thread.

    def _run(self):
        try:
            self._loop()
        except BaseException as e:  # the test checks wire.error
            self.error = e

    def _loop(self):
        poller = select.poll()
        polled = set()
        poller.register(self.wake_r, select.POLLIN)
        while not self.stopping:
            with self.lock:
                fds = dict(self.fds)
            for index, fd in fds.items():
                if fd not in polled:
                    poller.register(fd, select.POLLIN)
                    polled.add(fd)
            source = {fd: index for index, fd in fds.items()}
            now = time.monotonic()
            wait = 0.2
            if self.queue:
                wait = max(0.0, min(wait, self.queue[0][0] - now))
            for fd, _ in poller.poll(wait * 1000):
                if fd == self.wake_r:
                    os.read(self.wake_r, 4096)
                    continue
                for _ in range(64):  # a bounded batch, then the timers get their turn
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    self._route(source[fd], packet)
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, index, packet = heapq.heappop(self.queue)
                fd = fds.get(index)
                if fd is None:
                    continue
                try:
                    os.write(fd, packet)
                except OSError as e:
                    # The destination's interface may be going away at the end of a test.
                    if e.errno not in (errno.EIO, errno.EAGAIN, errno.EINVAL, errno.EBADF):
                        raise
                    continue
                with self.lock:
                    self.stats["forwarded"] += 1

    def _route(self, src, packet):
        with self.lock:
            s = self.stats
            if len(packet) < 20 or packet[0] >> 4 != 4:
                s["unroutable"] += 1
                return
            dst = self.by_ip.get(packet[16:20])
            if dst is None or dst == src:
                s["unroutable"] += 1
                return
            if self.group.get(src) != self.group.get(dst):
                s["partitioned"] += 1
                return
            m, rng = self.model, self.rng
            if m.loss and rng.random() < m.loss:
                s["lost"] += 1
                return
            copies = 1
            if m.duplicate and rng.random() < m.duplicate:
                copies = 2
                s["duplicated"] += 1
            now = time.monotonic()
            for _ in range(copies):
                if len(self.queue) >= MAX_QUEUED:
                    s["overflow"] += 1
                    continue
                when = now + m.delay + (rng.uniform(0, m.jitter) if m.jitter else 0.0)
                self.seq += 1
                heapq.heappush(self.queue, (when, self.seq, dst, packet))


def socket_in(netns, family, kind):
    """A socket made inside network namespace `netns` (it stays there when this thread leaves):
    how the wire's own test sends and receives without a process in each namespace."""
    import socket
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.socket(family, kind)
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
