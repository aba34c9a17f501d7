// kadcorpus: writes seed corpora for the fuzz targets from real traffic — the datagrams a small
// simulated network of kadnode nodes exchanges while it bootstraps, puts, gets and discovers.
//
// Usage: kadcorpus DIR   (writes DIR/decode, DIR/node and DIR/discovery; tools/fuzz-corpus
// refreshes fuzz/corpus/ with it)

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "kad/sim/network.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary) << bytes;
}

// One fuzz_node record: op, delay, length, payload.
std::string node_record(std::uint8_t op, const std::string& payload) {
    std::string r;
    r += static_cast<char>(op);
    r += static_cast<char>(1);
    r += static_cast<char>(payload.size() >> 8);
    r += static_cast<char>(payload.size() & 0xff);
    return r + payload;
}

// A short name for a datagram: its "y" and "q" (or the error code), for the file name.
std::string kind_of(const std::string& d) {
    auto m = kad::krpc::decode(d);
    if (!m) return "undecodable";
    if (const auto* q = std::get_if<kad::krpc::Query>(&m->body)) {
        return std::string("query_") + std::string(kad::krpc::method_name(q->method()));
    }
    if (const auto* e = std::get_if<kad::krpc::Error>(&m->body)) {
        return "error_" + std::to_string(e->code);
    }
    const auto& r = std::get<kad::krpc::Response>(m->body);
    if (r.item) return "response_item";
    if (r.data) return "response_data";        // BEP 44
    if (r.values) return "response_values";    // BEP 5
    if (r.samples) return "response_samples";  // BEP 51
    if (r.token) return "response_token";
    if (!r.nodes.empty()) return "response_nodes";
    return "response";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: kadcorpus DIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    kad::sim::Network net(7);
    std::map<std::string, int> per_kind;
    std::set<std::string> seen;
    int discovery_n = 0;
    net.set_tap([&](std::size_t, const kad::Endpoint&, std::string_view data) {
        const std::string d(data);
        const std::string kind = kind_of(d);
        if (per_kind[kind] >= 6 || !seen.insert(d).second) return;
        const std::string name = kind + "_" + std::to_string(per_kind[kind]++);
        write(out / "decode", name, d);
        // For the node: the datagram from a public source, and again from loopback.
        write(out / "node", name, node_record(0, d) + node_record(4 * 4, d));
        // A response's body also answers the queries of a lookup the node starts (op 2, then 1).
        if (kind.rfind("response", 0) == 0) {
            kad::bencode::Document doc;
            auto root = doc.decode(d);
            if (!root) return;
            const auto value = kad::bencode::to_value(*root);
            const auto& dict = value.as_dict();
            auto r = dict.find("r");
            if (r == dict.end()) return;
            const std::string body = kad::bencode::encode(r->second);
            write(out / "node", "lookup_" + name,
                  node_record(2 + 4 * 2, "target") + node_record(1, body) + node_record(1, body) +
                      node_record(3, ""));
        }
    });
    kad::sim::grow(net, 30);
    for (int i = 0; i < 5; ++i) {
        net.with(static_cast<std::size_t>(i), [&](kad::Node& n, kad::TimePoint now) {
            n.put(now, "key" + std::to_string(i), "value " + std::to_string(i), {},
                  [](const kad::PutResult&) {});
        });
        net.run_for(2s);
        net.with(static_cast<std::size_t>(10 + i), [&](kad::Node& n, kad::TimePoint now) {
            n.get(now, "key" + std::to_string(i), [](const kad::GetResult&) {});
        });
        net.run_for(2s);
    }
    // BEP 5: announces and get_peers lookups; BEP 44: immutable and mutable puts and gets.
    const kad::Ed25519KeyPair key = kad::ed25519_key_pair(kad::Ed25519Seed{7});
    for (int i = 0; i < 3; ++i) {
        const kad::NodeId swarm = kad::NodeId::from_key("swarm" + std::to_string(i));
        net.with(static_cast<std::size_t>(i), [&](kad::Node& n, kad::TimePoint now) {
            n.announce(now, swarm, static_cast<std::uint16_t>(6881 + i),
                       [](const kad::AnnounceResult&) {});
            n.put_item(now, kad::bep44::make_immutable("l5:item" + std::to_string(i) + "i42ee"),
                       std::nullopt, [](const kad::ItemPutResult&) {});
            n.put_mutable(now, key, i == 0 ? "" : "salt", "d1:ni" + std::to_string(i) + "ee",
                          [](const kad::ItemPutResult&) {});
        });
        net.run_for(2s);
        net.with(static_cast<std::size_t>(20 + i), [&](kad::Node& n, kad::TimePoint now) {
            n.find_peers(now, swarm, [](const kad::FindPeersResult&) {});
            n.sample_infohashes(now, net.endpoint(static_cast<std::size_t>(i)), std::nullopt, swarm,
                                [](const kad::SampleInfohashesResult&) {});
            n.get_item(now,
                       kad::bep44::mutable_target(
                           std::string(key.public_key.begin(), key.public_key.end()), "salt"),
                       "salt", [](const kad::ItemGetResult&) {});
        });
        net.run_for(2s);
    }
    // A watch: its rounds' listens, and a holder's notify of the next version.
    net.with(25, [&](kad::Node& n, kad::TimePoint now) {
        n.watch(now, "key1", [](const kad::WatchEvent&) {});
    });
    net.run_for(2s);
    net.with(1, [&](kad::Node& n, kad::TimePoint now) {
        n.put(now, "key1", "value 1 again", {}, [](const kad::PutResult&) {});
    });
    net.run_for(2s);
    // Discovery messages, plain and signed, of each kind.
    for (const std::string key : {"", "k"}) {
        for (auto kind : {kad::Discovery::Kind::Announce, kad::Discovery::Kind::Solicit,
                          kad::Discovery::Kind::Leave}) {
            kad::Discovery::Message m;
            m.kind = kind;
            m.id = net.node(0).id();
            m.network = "kad";
            m.port = 6881;
            m.interval_ms = 5000;
            m.version = std::string("KN\x00\x01", 4);
            const std::string d = kad::Discovery::encode(m, key);
            std::string rec;
            rec += static_cast<char>(key.empty() ? 0 : 1);
            for (std::uint8_t src : {1, 2, 0x81}) {
                rec += static_cast<char>(src);
                rec += static_cast<char>(1);
                rec += static_cast<char>(d.size());
                rec += d;
            }
            write(out / "discovery", "msg_" + std::to_string(discovery_n++), rec);
        }
    }
    std::size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(out)) files += e.is_regular_file();
    std::printf("kadcorpus: %zu files in %s\n", files, out.c_str());
    return 0;
}
