#!/usr/bin/python3
"""Packet captures for the end-to-end tests, read by Wireshark's BitTorrent DHT dissector.

    cap = Capture(path, netns=ns)    # dumpcap on the namespace's lo (netns=None: this one's)
    ...                              # traffic
    cap.stop()
    grams = datagrams(path)          # every UDP datagram, as tshark decodes it
    bad = not_bt_dht(grams, {"127.0.1.1:6881", ...})   # those from these endpoints that are
                                                        # not bt-dht, or malformed

tshark 4.0 tries its bt-dht heuristic on every UDP datagram (on by default: `tshark -G
heuristic-decodes` lists "udp bt-dht T"); decode_as ports force bt-dht on those ports as well
(`-d udp.port==P,bt-dht`), for a datagram the heuristic turns away. The dissector flags broken
bencode framing (a string running past the datagram, a missing terminator) as malformed, but it
is lenient about values: a non-numeric integer or a `nodes` string of a bad length passes.

As a program, it turns captures of kadnode beside another implementation into seeds for the
decoder's fuzz target:
    capture.py corpus PREFIX OUT_DIR PCAP...
writes what the other implementation sent (every endpoint that never sent kadnode's client
version), and kadnode's answers to its queries, as OUT_DIR/PREFIX_<method>_<q|r|e>_<n>, replacing
the PREFIX_* there: at most PER_KIND of each method and kind, each with keys of its own, each
under 1500 bytes (tools/mixed-corpus: PREFIX libtorrent).
"""

import collections
import os
import shutil
import signal
import subprocess
import sys
import time

WARNING = 0x00600000  # Wireshark's expert severity levels: chat, note, warning, error
PER_KIND = 4
MARK = b"kadnode-capture-mark-"

Datagram = collections.namedtuple("Datagram",
                                  "frame src dst protocols malformed expert payload")


class Capture:
    """dumpcap writing the UDP traffic of loopback (in network namespace netns, or this one) to a
    pcap file, until stop().

    dumpcap writes what it captured a while later, and what it has not written when it is
    stopped is lost; so the capture is taken as started once a marker datagram sent over
    loopback is in the file, and is stopped only once a last marker is: everything sent before
    that is in the file. The markers (to port 9) are left out of datagrams()."""

    def __init__(self, path, netns=None, timeout=10):
        self.path = path
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.marks = 0
        self.p = subprocess.Popen(self.prefix + ["dumpcap", "-q", "-P", "-i", "lo", "-f", "udp",
                                                 "-w", path],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True)
        try:
            self.mark(timeout)
        except AssertionError:
            self.kill()
            raise

    def mark(self, timeout):
        """Sends a marker datagram over loopback (again every half second) until it is in the
        file."""
        self.marks += 1
        marker = MARK + b"%d." % self.marks
        send = ("import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                ".sendto(sys.argv[1].encode(), ('127.0.0.1', 9))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise AssertionError(f"dumpcap exited: {self.p.stderr.read().decode()}")
            subprocess.run(self.prefix + [sys.executable, "-c", send, marker.decode()],
                           check=True, timeout=timeout)
            resend = min(deadline, time.monotonic() + 0.5)
            while time.monotonic() < resend:
                if os.path.exists(self.path):
                    with open(self.path, "rb") as f:
                        if marker in f.read():
                            return
                time.sleep(0.02)
        raise AssertionError(f"dumpcap did not write what it captured within {timeout}s")

    def stop(self, timeout=10):
        """Ends the capture once everything sent so far is in the file; returns its path."""
        if self.p.poll() is None:
            self.mark(timeout)
            os.killpg(self.p.pid, signal.SIGINT)
            self.p.wait(timeout=timeout)
        self.p.stderr.close()
        return self.path

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(timeout=5)
        self.p.stderr.close()


def keep(path, name):
    """Copies the capture to $KAD_CAPTURE_DIR/<name>.pcap when that is set (tools/mixed-corpus
    makes fuzz seeds of them)."""
    where = os.environ.get("KAD_CAPTURE_DIR")
    if where:
        os.makedirs(where, exist_ok=True)
        shutil.copy(path, os.path.join(where, name + ".pcap"))


def datagrams(path, decode_as=(), timeout=60):
    """Every UDP datagram over IPv4 in the capture, as tshark decodes it."""
    fields = ["frame.number", "ip.src", "udp.srcport", "ip.dst", "udp.dstport",
              "frame.protocols", "_ws.malformed", "_ws.expert.severity", "udp.payload"]
    args = ["tshark", "-n", "-r", path, "-Y", "udp && !icmp"]
    for port in sorted(set(decode_as)):
        args += ["-d", f"udp.port=={port},bt-dht"]
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"tshark failed: {out.stderr}")
    grams = []
    for line in out.stdout.splitlines():
        frame, sip, sport, dip, dport, protocols, malformed, severity, payload = \
            line.split("\t")
        if bytes.fromhex(payload).startswith(MARK):
            continue
        severities = [int(s, 0) for s in severity.split(",") if s]
        grams.append(Datagram(int(frame), f"{sip}:{sport}", f"{dip}:{dport}",
                              protocols.split(":"), bool(malformed),
                              max(severities, default=0), bytes.fromhex(payload)))
    return grams


def probe_source(at, ready):
    """Where a kadnode node at `at` ("ip:port") sends its probes from, by its `ready` event: its
    second port, at the same address."""
    probe = ready.get("probe_addr")
    if probe is None:
        raise AssertionError(f"{at} has no second port: {ready}")
    return at.rsplit(":", 1)[0] + ":" + probe.rsplit(":", 1)[1]


def not_bt_dht(grams, sources):
    """The datagrams sent from `sources` ("ip:port") that the dissector did not take for bt-dht,
    or found malformed, or flagged with a warning or an error."""
    return [g for g in grams if g.src in sources and
            ("bt-dht" not in g.protocols or g.malformed or g.expert >= WARNING)]


# --- fuzz seeds ---------------------------------------------------------------------------------

def bdecode(data):
    """A small bencode reader (libtorrent's is in another interpreter's path): the value, or
    None when the data is not bencode."""
    def value(i):
        c = data[i:i + 1]
        if c == b"i":
            end = data.index(b"e", i)
            return int(data[i + 1:end]), end + 1
        if c == b"l" or c == b"d":
            items, i = [], i + 1
            while data[i:i + 1] != b"e":
                v, i = value(i)
                items.append(v)
            return (items if c == b"l" else dict(zip(items[::2], items[1::2]))), i + 1
        colon = data.index(b":", i)
        n = int(data[i:colon])
        if colon + 1 + n > len(data):
            raise ValueError("string past the end")
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    try:
        v, end = value(0)
    except (ValueError, IndexError, TypeError):
        return None
    return v if end == len(data) else None


def foreign_messages(grams):
    """(method, y, payload) of the KRPC messages of the other implementation (every endpoint
    that never sent kadnode's client version, "KN"), and of kadnode's answers to its queries; an
    answer's method is that of the query it answers."""
    msgs = [(g, m) for g in grams for m in [bdecode(g.payload)]
            if isinstance(m, dict) and m.get(b"y") in (b"q", b"r", b"e")]
    method = {(g.src, g.dst, m.get(b"t")): m.get(b"q", b"?").decode(errors="replace")
              for g, m in msgs if m[b"y"] == b"q"}
    kadnode = {g.src for g, m in msgs if isinstance(m.get(b"v"), bytes) and m[b"v"][:2] == b"KN"}
    for g, m in msgs:
        y = m[b"y"].decode()
        if y == "q":
            if g.src not in kadnode:
                yield method[(g.src, g.dst, m.get(b"t"))], y, shape(m), g.payload
        elif g.src not in kadnode or g.dst not in kadnode:
            query = method.get((g.dst, g.src, m.get(b"t")))
            if query:
                yield query, y, shape(m), g.payload


def shape(m):
    """The keys of a message and of its arguments or results."""
    inner = m.get(b"a", m.get(b"r"))
    return tuple(sorted(m)), tuple(sorted(inner)) if isinstance(inner, dict) else ()


def corpus(out_dir, pcaps, prefix):
    """Replaces out_dir/<prefix>_* with the seeds from the captures; returns their names."""
    kinds = collections.defaultdict(dict)  # (method, y) -> {shape: payload}
    for path in pcaps:
        for name, y, keys, payload in foreign_messages(datagrams(path)):
            kind = kinds[(name, y)]
            if len(payload) < 1500 and len(kind) < PER_KIND:
                kind.setdefault(keys, payload)
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.startswith(prefix + "_"):
            os.remove(os.path.join(out_dir, old))
    names = []
    for (name, y), kind in sorted(kinds.items()):
        for i, payload in enumerate(kind.values()):
            names.append(f"{prefix}_{name}_{y}_{i}")
            with open(os.path.join(out_dir, names[-1]), "wb") as f:
                f.write(payload)
    return names


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[1] != "corpus":
        sys.exit("usage: capture.py corpus PREFIX OUT_DIR PCAP...")
    names = corpus(sys.argv[3], sys.argv[4:], sys.argv[2])
    print(f"{len(names)} seeds in {sys.argv[3]}: {' '.join(names)}")
