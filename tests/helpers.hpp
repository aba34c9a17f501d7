#pragma once
// Shared test fixtures: a transport that records what a node sends, and message builders.

#include <string>
#include <vector>

#include "kad/krpc.hpp"
#include "kad/node.hpp"
#include "kad/random.hpp"

namespace kad::test {

struct Sent {
    Endpoint to;
    std::string bytes;
    bool probe = false;  // from the second port
};

class CaptureTransport final : public Transport {
public:
    void send(const Endpoint& to, std::string_view datagram) override {
        sent.push_back({to, std::string(datagram)});
    }
    bool send_probe(const Endpoint& to, std::string_view datagram) override {
        if (!probe_port) return false;
        sent.push_back({to, std::string(datagram), true});
        return true;
    }
    bool has_probe_port() const override { return probe_port; }
    Families families() const override { return reach; }
    // Decodes the i-th datagram sent (it must decode).
    krpc::Message message(std::size_t i) const {
        auto m = krpc::decode(sent.at(i).bytes);
        if (!m) throw std::runtime_error("node sent an undecodable datagram: " + m.error().reason);
        return *m;
    }
    krpc::Message last() const { return message(sent.size() - 1); }
    // The last response or error with transaction ID t (the node may send queries after it).
    krpc::Message reply(const std::string& t) const {
        for (std::size_t i = sent.size(); i-- > 0;) {
            auto m = message(i);
            if (m.transaction == t && !std::holds_alternative<krpc::Query>(m.body)) return m;
        }
        throw std::runtime_error("no reply with transaction " + t);
    }
    std::vector<Sent> sent;
    Families reach;           // both, unless a test says otherwise
    bool probe_port = false;  // a second port (send_probe), if a test gives it one
};

inline Endpoint ep(const char* text) {
    return *Endpoint::parse(text);
}

inline NodeId id_from(std::uint64_t seed) {
    SeededRandom r(seed);
    return NodeId::random(r);
}

template <class Args>
std::string encode_query(const std::string& t, const NodeId& from, Args args) {
    krpc::Message m;
    m.transaction = t;
    krpc::Query q;
    q.id = from;
    q.args = std::move(args);
    m.body = std::move(q);
    return krpc::encode(m);
}

// An answer from another kadnode node: it says so in "v", as kadnode always does (an answer
// without "v" marks its node as another implementation, docs/PROTOCOL.md "Mixed networks").
inline std::string encode_response(const std::string& t, krpc::Response r) {
    krpc::Message m;
    m.transaction = t;
    m.version = NodeConfig{}.version;
    m.body = std::move(r);
    return krpc::encode(m);
}

inline std::string encode_error(const std::string& t, int code, std::string message) {
    krpc::Message m;
    m.transaction = t;
    m.version = NodeConfig{}.version;
    m.body = krpc::Error{code, std::move(message)};
    return krpc::encode(m);
}

inline const krpc::Response& as_response(const krpc::Message& m) {
    return std::get<krpc::Response>(m.body);
}

inline const krpc::Error& as_error(const krpc::Message& m) {
    return std::get<krpc::Error>(m.body);
}

inline const krpc::Query& as_query(const krpc::Message& m) {
    return std::get<krpc::Query>(m.body);
}

}  // namespace kad::test
