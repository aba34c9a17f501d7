#pragma once
// The client version ("v", BEP 5) each routing-table contact sent in its latest answer: which
// implementation is at the other end (the REPL's rt and stats).
//
// Kept beside the routing table, not in Contact (80 bytes, and a kadswarm process holds millions),
// and only for contacts whose version differs from our own, so a network of kadnode nodes keeps
// nothing here. Entries for nodes that left the table are pruned as the map grows.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kad/node_id.hpp"

namespace kad {

class RoutingTable;

class ClientVersions {
public:
    explicit ClientVersions(std::string own) : own_(std::move(own)) {}

    // `id` answered us with version `v` (empty: it sent none).
    void note(const NodeId& id, std::string_view v, const RoutingTable& table);
    // What `id` sent last: our own version unless it sent another (or none: empty).
    std::string_view of(const NodeId& id) const;
    std::size_t size() const noexcept { return others_.size(); }

private:
    std::string own_;
    std::unordered_map<NodeId, std::string> others_;
};

// A version for people: the two-letter client code (BEP 20's convention: "LT" libtorrent, "UT"
// uTorrent, "KN" kadnode, ...) and the rest in hex, "LT 0102"; printable text as it is; "none"
// for an empty one.
std::string describe_client(std::string_view v);

}  // namespace kad
