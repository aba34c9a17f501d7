#pragma once
// Nodes that do not speak kadnode's own methods (find_value, store): BitTorrent DHT nodes in a
// mixed network. A get or put asks them find_node instead, so that they still route it, and
// never counts them among the nodes that hold values (docs/PROTOCOL.md, "Mixed networks").
//
// Learnt from their answers: a "v" of another client, or none (kadnode always sends one); a
// 204 to find_value or store; a find_value answer without a token; or, for an implementation
// that ignores methods it does not know, a find_value or store left unanswered by a node that
// then answers another query without a "v" (under kadnode's own "v", silence is a lost
// datagram). Both sets are bounded, the oldest entry giving way, and empty in
// a network of kadnode nodes.

#include <cstddef>
#include <unordered_set>
#include <vector>

#include "kad/node_id.hpp"

namespace kad {

struct ForeignNodesLimits {
    std::size_t nodes = 1024;
    std::size_t suspects = 64;
};

class ForeignNodes {
public:
    explicit ForeignNodes(ForeignNodesLimits limits = {})
        : capacity_(limits.nodes), suspects_capacity_(limits.suspects) {}

    void add(const NodeId& id);
    bool contains(const NodeId& id) const { return set_.contains(id); }
    // One of kadnode's methods to it went unanswered: foreign if it answers something else.
    void suspect(const NodeId& id);
    // It answered a query of a standard method.
    void answered(const NodeId& id);
    std::size_t size() const noexcept { return set_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t suspects() const noexcept { return suspects_.size(); }
    std::size_t suspects_capacity() const noexcept { return suspects_capacity_; }

private:
    std::size_t capacity_, suspects_capacity_;
    std::unordered_set<NodeId> set_;
    // In the order added, as a ring once full: order_[oldest_] gives way next. (Not a deque,
    // which allocates half a kilobyte up front, and most nodes never meet a foreign one.)
    std::vector<NodeId> order_;
    std::size_t oldest_ = 0;
    std::vector<NodeId> suspects_;  // oldest first; few, searched linearly
};

}  // namespace kad
