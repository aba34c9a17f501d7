// libFuzzer target for the node: a Node fed arbitrary datagrams from arbitrary endpoints, with time
// advancing, replies to the queries it sends, and operations started along the way.
//
// The input is a sequence of records:
//   op (1 byte)  delay (1 byte: time advances delay x 10 ms)  length (2 bytes)  payload
// op % 4 == 0: a datagram from endpoint (op / 4) % N of a fixed set (IPv4, IPv6, loopback, and
//              unusable ones);
// op % 4 == 1: a response to the latest query the node sent, from where it was sent, with the
//              payload as the body of "r" (so lookups get answers to work on);
// op % 4 == 2: an operation: get, put, lookup or a ping, keyed by the payload;
// op % 4 == 3: time passes (handle_timeout) only.
//
// Beyond "never crashes" (the sanitizers check that), it checks what the protocol promises:
// every datagram the node sends decodes and fits in one packet, a datagram that does not decode
// (and is not a well-formed query with bad arguments) is never answered, and the node's
// resources stay within their limits.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kad/krpc.hpp"
#include "kad/node.hpp"
#include "kad/random.hpp"

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_node: %s\n", what.c_str());
    std::abort();
}

struct Sent {
    kad::Endpoint to;
    std::string bytes;
};

class Capture final : public kad::Transport {
public:
    void send(const kad::Endpoint& to, std::string_view datagram) override {
        if (datagram.size() > 1500) fail("a datagram larger than one packet");
        sent.push_back({to, std::string(datagram)});
    }
    std::vector<Sent> sent;
};

const std::vector<kad::Endpoint>& endpoints() {
    static const std::vector<kad::Endpoint> eps = [] {
        std::vector<kad::Endpoint> v;
        for (const char* text :
             {"198.51.100.7:6881", "198.51.100.8:6881", "203.0.113.9:1", "10.0.0.2:6881",
              "127.0.0.1:4000", "[2001:db8::1]:6881", "[2001:db8::2]:7000", "[::1]:4000",
              "0.0.0.0:1", "224.0.0.1:6881", "198.51.100.7:0", "255.255.255.255:9"}) {
            v.push_back(*kad::Endpoint::parse(text));
        }
        return v;
    }();
    return eps;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    Capture transport;
    kad::SeededRandom rng(size);
    kad::TimePoint now{};
    kad::NodeConfig config;
    config.k = 8;
    config.rate_limit.rate = 50;
    config.rate_limit.burst = 50;
    config.storage.max_items = 64;
    config.storage.max_share = 0.25;
    kad::Node node(config, kad::NodeId::random(rng), transport, rng, now);
    kad::bencode::Document doc;

    std::size_t pos = 0;
    while (pos + 4 <= size) {
        const std::uint8_t op = data[pos];
        now += std::chrono::milliseconds(10 * data[pos + 1]);
        std::size_t len = static_cast<std::size_t>(data[pos + 2]) << 8 | data[pos + 3];
        pos += 4;
        if (len > size - pos) len = size - pos;
        const std::string_view payload(reinterpret_cast<const char*>(data + pos), len);
        pos += len;

        const std::size_t before = transport.sent.size();
        switch (op % 4) {
            case 0: {
                const auto& eps = endpoints();
                const kad::Endpoint& from = eps[(op / 4) % eps.size()];
                node.handle_datagram(now, from, payload);
                auto m = kad::krpc::decode(payload, doc);
                const bool bad_query =
                    !m && m.error().kind == kad::krpc::DecodeFailureKind::BadQuery;
                if (!m && !bad_query && transport.sent.size() != before) {
                    fail("a malformed datagram was answered");
                }
                break;
            }
            case 1: {
                for (std::size_t i = transport.sent.size(); i-- > 0;) {
                    auto q = kad::krpc::decode(transport.sent[i].bytes, doc);
                    if (!q || !std::holds_alternative<kad::krpc::Query>(q->body)) continue;
                    std::string r = "d1:r";
                    r += payload;
                    r += "1:t" + std::to_string(q->transaction.size()) + ":" + q->transaction;
                    r += "1:y1:re";
                    node.handle_datagram(now, transport.sent[i].to, r);
                    break;
                }
                break;
            }
            case 2: {
                const std::string key(payload.substr(0, 64));
                switch ((op / 4) % 4) {
                    case 0:
                        node.get(now, key, [](const kad::GetResult&) {});
                        break;
                    case 1:
                        node.put(now, key, std::string(payload), {}, [](const kad::PutResult&) {});
                        break;
                    case 2:
                        node.lookup(now, kad::NodeId::from_key(key),
                                    [](const kad::LookupResult&) {});
                        break;
                    default:
                        node.ping(now, endpoints()[len % endpoints().size()], std::nullopt,
                                  [](const kad::PingResult&) {});
                        break;
                }
                break;
            }
            default:
                node.handle_timeout(now);
                break;
        }
        if (now >= node.next_timeout()) node.handle_timeout(now);

        for (std::size_t i = before; i < transport.sent.size(); ++i) {
            if (!kad::krpc::decode(transport.sent[i].bytes, doc)) fail("the node sent garbage");
        }
        if (transport.sent.size() > 4096)
            transport.sent.erase(transport.sent.begin(), transport.sent.begin() + 2048);
        // Memory: every count the node holds within the bound its configuration sets.
        for (const auto& h : node.footprint()) {
            if (h.count > h.bound) fail("more " + std::string(h.what) + " than their bound");
        }
    }
    node.cancel_all();
    return 0;
}
