#!/usr/bin/python3
"""A libtorrent session (python3-libtorrent, an independent KRPC and BEP 44 implementation) whose
DHT is driven by JSON lines on stdin, for kadnode's interoperability tests: the libtorrent
counterpart of peer.mjs. Each command gets one JSON line back on stdout.

Usage: lt_peer.py HOST:PORT BOOTSTRAP_HOST:PORT DIR   (/usr/bin/python3: Debian's libtorrent module;
DIR: where torrents would be saved, and none ever is: they get no metadata)

The session listens on HOST:PORT only, knows BOOTSTRAP alone (never libtorrent's public
routers) and runs no LSD, UPnP or NAT-PMP. Commands:
  {"op":"addr"}                                  its address and node id
  {"op":"live_nodes"}                            its routing table: [{"id","addr"}]
  {"op":"learned"}                               the nodes it was told of: [{"from","id","addr"}]
  {"op":"announce","info_hash":HEX}              join that swarm at its port (answers at once)
  {"op":"get_peers","info_hash":HEX}             dht_get_peers, until the lookup completes
  {"op":"put","v":TEXT}                          dht_put_immutable_item, until its put alert
  {"op":"mput","seed":HEX,"salt":S,"v":TEXT}     dht_put_mutable_item (seq: the newest found + 1)
  {"op":"get","target":HEX}                      dht_get_immutable_item: {"v","from"}
  {"op":"mget","public_key":HEX,"salt":S}        dht_get_mutable_item: {"v","seq","from"}, the
                                                 first version found (its first item alert)
      "from": the nodes whose answers to this lookup carried a value
  {"op":"sent","q":METHOD}                       the queries of that method it sent: [{"to","hex"}]
  {"op":"send","to":ADDR,"hex":HEX,"wait":SECONDS}
      the raw datagram sent from a new socket on HOST (another port); the reply, if one came
      within wait seconds, decoded: {"from","reply":{"y","e"?}}
Timeouts (no alert in time) answer {"ok": false, "error": "timeout ..."}.
"""

import faulthandler
import hashlib
import json
import re
import socket
import sys
import time

import libtorrent as lt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PKT = re.compile(r"^(==>|<==) \[(.+?)\]")
NODE_ID = re.compile(r"DHT tracker with node id: ([0-9a-f]{40})")
TIMEOUT = 30  # seconds any one command may take
STALLED = 5  # seconds after which a get_peers lookup on loopback has stalled


def keypair(seed):
    """libtorrent's Ed25519 key from a 32-byte seed: the public key, and the 64-byte secret key in
    its own (ref10) form, SHA-512 of the seed, clamped."""
    pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sk = bytearray(hashlib.sha512(seed).digest())
    sk[0] &= 248
    sk[31] = (sk[31] & 63) | 64
    return pk, bytes(sk)


def compact_nodes(blob):
    """BEP 5 compact IPv4 node infos: [(id hex, "ip:port")]."""
    out = []
    for i in range(0, len(blob) - len(blob) % 26, 26):
        ip = socket.inet_ntoa(blob[i + 20:i + 24])
        out.append((blob[i:i + 20].hex(), f"{ip}:{int.from_bytes(blob[i + 24:i + 26], 'big')}"))
    return out


def text(b):
    return b.decode(errors="replace") if isinstance(b, bytes) else str(b)


class Peer:
    """The session, and every DHT datagram it sent or received (from its dht_pkt_alerts)."""

    def __init__(self, listen, bootstrap, tmp):
        self.tmp = tmp  # the save path of torrents (which never get their metadata)
        self.host = listen.rsplit(":", 1)[0]
        self.ses = lt.session({
            "listen_interfaces": listen,
            "dht_bootstrap_nodes": bootstrap,
            "enable_dht": True,
            "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            # Every node here is on 127/8: no one-node-per-/24 rule, and loopback IDs are not
            # checked against BEP 42 (exempt) nor preferred for it.
            "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
            "dht_prefer_verified_node_ids": False,
            "alert_queue_size": 1 << 16,
            "alert_mask": lt.alert_category.dht | lt.alert_category.dht_log
            | lt.alert_category.dht_operation
            | lt.alert_category.error | lt.alert_category.status,
        })
        self.packets = []  # (direction, endpoint, message dict, raw bytes)
        self.bootstrapped = False
        self.node_id = None  # from the log line of the DHT's start

    def alerts(self, wait_ms=0):
        if wait_ms:
            self.ses.wait_for_alert(wait_ms)
        out = []
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.dht_pkt_alert):
                m = PKT.match(a.message())
                raw = bytes(a.pkt_buf)
                try:
                    msg = lt.bdecode(raw)
                except RuntimeError:
                    msg = None
                self.packets.append((m.group(1), m.group(2), msg if isinstance(msg, dict) else {},
                                     raw))
            elif isinstance(a, lt.dht_bootstrap_alert):
                self.bootstrapped = True
            elif isinstance(a, lt.dht_log_alert) and NODE_ID.search(a.message()):
                self.node_id = lt.sha1_hash(bytes.fromhex(NODE_ID.search(a.message()).group(1)))
            out.append(a)
        return out

    def wait(self, pred, what, timeout=TIMEOUT):
        """The first alert (from now) that pred accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.alerts(100):
                if pred(a):
                    return a
        raise TimeoutError(f"timeout waiting for {what}")

    def responses_with(self, key, since):
        """The endpoints whose responses (after packet index `since`) carried r[key]."""
        return sorted({ep for d, ep, m, _ in self.packets[since:]
                       if d == "<==" and m.get(b"y") == b"r" and key in m.get(b"r", {})})

    def run(self, c):
        self.alerts()
        op = getattr(self, "op_" + c["op"], None)
        if op is None:
            raise ValueError("unknown op " + c["op"])
        return op(c)

    def op_addr(self, _):
        deadline = time.monotonic() + TIMEOUT
        while not (self.bootstrapped and self.node_id):
            if time.monotonic() > deadline:
                raise TimeoutError("timeout waiting for the DHT bootstrap")
            self.alerts(100)
        return {"addr": f"{self.host}:{self.ses.listen_port()}", "id": str(self.node_id)}

    def op_live_nodes(self, _):
        self.ses.dht_live_nodes(self.node_id)
        a = self.wait(lambda a: isinstance(a, lt.dht_live_nodes_alert), "dht_live_nodes")
        return {"nodes": [{"id": str(n["nid"]), "addr": "%s:%d" % n["endpoint"]}
                          for n in a.nodes]}

    def op_learned(self, _):
        return {"nodes": [{"from": ep, "id": i, "addr": at}
                          for d, ep, m, _ in self.packets if d == "<=="
                          for i, at in compact_nodes(m.get(b"r", {}).get(b"nodes", b""))]}

    def op_announce(self, c):
        # session.dht_announce cannot be called from Python in 2.0.8 (its flags type has no
        # converter: libtorrent issue 7441), so a torrent of that info-hash announces itself, at
        # the session's port.
        params = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + c["info_hash"])
        params.save_path = self.tmp
        self.ses.add_torrent(params)
        return {}

    def op_get_peers(self, c):
        # libtorrent posts a reply alert for each answer that holds peers: the peers are those of
        # every alert until the lookup's log says it completed. Now and then (a few lookups in a
        # hundred here) a lookup logs its start and then nothing, sending no query at all: it is
        # started again after STALLED seconds.
        ih = bytes.fromhex(c["info_hash"])
        for _ in range(3):
            self.ses.dht_get_peers(lt.sha1_hash(ih))
            started = self.wait(lambda a: isinstance(a, lt.dht_log_alert)
                                and f"NEW target: {ih.hex()} " in a.message(), "its start")
            lookup = started.message().split("]")[0].split("[")[-1]
            peers = set()

            def done(a):
                if isinstance(a, lt.dht_get_peers_reply_alert) and a.info_hash.to_bytes() == ih:
                    peers.update(f"{p[0]}:{p[1]}" for p in a.peers())
                return isinstance(a, lt.dht_log_alert) and f"[{lookup}] COMPLETED" in a.message()
            try:
                self.wait(done, "the end of the lookup", STALLED)
                return {"peers": sorted(peers)}
            except TimeoutError:
                continue
        raise TimeoutError("three get_peers lookups did not complete")

    def op_put(self, c):
        target = self.ses.dht_put_immutable_item(c["v"].encode())
        a = self.wait(lambda a: isinstance(a, lt.dht_put_alert) and a.target == target,
                      "dht_put_alert")
        return {"target": str(target), "stored": a.num_success}

    def op_mput(self, c):
        pk, sk = keypair(bytes.fromhex(c["seed"]))
        salt = c.get("salt", "")
        self.ses.dht_put_mutable_item(sk, pk, c["v"].encode(), salt.encode())
        a = self.wait(lambda a: isinstance(a, lt.dht_put_alert) and a.public_key == pk
                      and text(a.salt) == salt, "dht_put_alert")
        return {"public_key": pk.hex(), "target": hashlib.sha1(pk + salt.encode()).hexdigest(),
                "seq": a.seq, "stored": a.num_success}

    def op_get(self, c):
        since = len(self.packets)
        target = lt.sha1_hash(bytes.fromhex(c["target"]))
        self.ses.dht_get_immutable_item(target)
        a = self.wait(lambda a: isinstance(a, lt.dht_immutable_item_alert)
                      and a.target == target, "dht_immutable_item_alert")
        return {"v": text(a.item["value"]), "from": self.responses_with(b"v", since)}

    def op_mget(self, c):
        since = len(self.packets)
        pk = bytes.fromhex(c["public_key"])
        salt = c.get("salt", "")
        self.ses.dht_get_mutable_item(pk, salt.encode())
        a = self.wait(lambda a: isinstance(a, lt.dht_mutable_item_alert) and a.key == pk
                      and text(a.salt) == salt, "dht_mutable_item_alert")
        return {"v": text(a.item["value"]), "seq": a.seq,
                "from": self.responses_with(b"v", since)}

    def op_sent(self, c):
        q = c["q"].encode()
        return {"sent": [{"to": ep, "hex": raw.hex()} for d, ep, m, raw in self.packets
                         if d == "==>" and m.get(b"q") == q]}

    def op_send(self, c):
        return self.send(c["to"], bytes.fromhex(c["hex"]), c.get("wait", 2))

    def send(self, to, payload, wait):
        ip, port = to.rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.host, 0))
            s.settimeout(wait)
            s.sendto(payload, (ip, int(port)))
            out = {"from": "%s:%d" % s.getsockname()}
            try:
                data = s.recv(2048)
            except socket.timeout:
                return out
        reply = lt.bdecode(data)
        out["reply"] = {"y": text(reply[b"y"])}
        if b"e" in reply:
            out["reply"]["e"] = [reply[b"e"][0], text(reply[b"e"][1])]
        return out


def main():
    # If libtorrent's C++ dies (a signal), say where on stderr: the test shows it.
    faulthandler.enable()
    peer = Peer(*sys.argv[1:4])
    print(json.dumps({"event": "ready"}), flush=True)
    for line in sys.stdin:
        try:
            out = dict(ok=True, **peer.run(json.loads(line)))
        except (TimeoutError, ValueError, KeyError, RuntimeError) as e:
            out = {"ok": False, "error": str(e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
