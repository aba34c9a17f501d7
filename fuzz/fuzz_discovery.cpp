// libFuzzer target for LAN discovery: its message decoder, and a Discovery fed arbitrary
// datagrams from arbitrary LAN addresses with time advancing.
//
// Checks: a decoded message encodes to one that decodes the same (with and without a key);
// a message signed with a key decodes only with that key; the view, the candidates and the pings
// in flight stay within their limits, whatever arrives.
//
// The input: byte 0 selects the key (none or "k"), then records of
//   source (1 byte)  delay (1 byte: x 100 ms)  length (1 byte)  payload

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kad/discovery.hpp"
#include "kad/node.hpp"
#include "kad/random.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_discovery: %s\n", what);
    std::abort();
}

struct NullTransport final : kad::Transport {
    void send(const kad::Endpoint&, std::string_view) override {}
};

struct NullMulticast final : kad::MulticastTransport {
    void multicast(std::string_view d) override {
        if (d.size() > kad::Discovery::kMaxDatagram) fail("an oversized multicast");
    }
};

bool same(const kad::Discovery::Message& a, const kad::Discovery::Message& b) {
    return a.kind == b.kind && a.id == b.id && a.network == b.network && a.port == b.port &&
           a.interval_ms == b.interval_ms && a.version == b.version;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string key = data[0] & 1 ? "k" : "";
    const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);

    // The decoder on the whole input.
    for (const std::string& k : {std::string(), std::string("k")}) {
        if (auto m = kad::Discovery::decode(all, k)) {
            const std::string again = kad::Discovery::encode(*m, k);
            auto back = kad::Discovery::decode(again, k);
            if (!back || !same(*back, *m)) fail("decode, encode, decode differs");
            if (!k.empty() && kad::Discovery::decode(again, "other")) {
                fail("a signed message decodes with another key");
            }
        }
    }

    // A node with discovery, fed the records.
    NullTransport transport;
    NullMulticast mcast;
    kad::SeededRandom rng(size);
    kad::TimePoint now{};
    kad::Node node({}, kad::NodeId::random(rng), transport, rng, now);
    kad::DiscoveryConfig config;
    config.key = key;
    config.max_peers = 32;
    config.max_pending_pings = 4;
    kad::Discovery disc(config, node, 6881, mcast, rng, now);

    std::size_t pos = 1;
    while (pos + 3 <= size) {
        const std::uint8_t src = data[pos];
        now += std::chrono::milliseconds(100 * data[pos + 1]);
        std::size_t len = data[pos + 2];
        pos += 3;
        if (len > size - pos) len = size - pos;
        const std::string_view payload(reinterpret_cast<const char*>(data + pos), len);
        pos += len;
        const kad::Endpoint from =
            src & 0x80 ? kad::Endpoint::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                            static_cast<std::uint8_t>(src)},
                                           7475)
                             .with_scope(2)
                       : kad::Endpoint::v4({192, 168, 1, src}, 7475);
        disc.handle_datagram(now, from, payload);
        if (now >= disc.next_timeout()) disc.handle_timeout(now);
        if (now >= node.next_timeout()) node.handle_timeout(now);
        if (disc.size() > config.max_peers) fail("the view grew past max_peers");
        if (node.transactions_open() > config.max_pending_pings + 64) {
            fail("discovery sent pings without bound");
        }
    }
    node.cancel_all();
    return 0;
}
