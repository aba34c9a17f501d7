#pragma once
// What the node's operations share: the node's parts, by reference, as libtorrent's traversal
// algorithms reach them through their node. kad::Node owns every part and the context; the
// operations own only their own state.

#include <cstddef>

#include "kad/log.hpp"
#include "kad/node_config.hpp"
#include "kad/peer_store.hpp"
#include "kad/random.hpp"
#include "kad/routing_table.hpp"
#include "kad/rpc.hpp"
#include "kad/seen_seq.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"

namespace kad {
class Maintenance;
}

namespace kad::ops {

class Operations;

struct Context {
    const NodeConfig& config;
    const NodeId& self;
    const TimePoint& now;  // the node's clock, which the node advances
    RandomSource& rng;
    const Logger& log;
    NodeStats& stats;
    RoutingTable& table;
    Storage& storage;
    Storage& items;  // BEP 44
    PeerStore& peers;
    SeenSeq& seen;
    Rpc& rpc;
    Operations& ops;
    Maintenance& maintenance;
    // Not empty while stores cannot be kept (Node::refuse_stores: the journal cannot be
    // written): our own puts then do not count our copy as kept.
    const std::string& store_refusal;
    std::size_t lookups = 0;  // lookups running (Traversal keeps the count; max_lookups bounds it)
};

// Remembers the newest seq seen for a key (SeenSeq), counting what that forgets.
inline void note_seen(Context& ctx, const NodeId& target, std::int64_t seq) {
    if (ctx.seen.note(target, seq)) ++ctx.stats.seen_seq_evicted;
}

}  // namespace kad::ops
