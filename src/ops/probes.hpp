#pragma once
// Single RPCs to one node: the REPL's p, fn, fv and s, and a hand-off to one newcomer. Each is
// one query (a store: a find_value for the token, then the store) whose handler owns the
// caller's callback; they share one path: normalise the address, check that it can be reached,
// send, or report that too many queries are in flight.

#include <optional>
#include <string>

#include "kad/results.hpp"
#include "ops/context.hpp"
#include "ops/operation.hpp"

namespace kad::ops {

void ping(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
          Callback<PingResult> done);
void find_node(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
               const NodeId& target, Callback<FindNodeResult> done);
void find_value(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                const std::string& key, Callback<FindValueResult> done);
// Asks the node for a token (find_value), then stores. Without a seq: one more than the seq the
// node holds, or 0. `guard`: the ID Operations::guard gave `done`; once that is cancelled, the
// store is not sent.
void store(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id, std::string key,
           std::string value, const PutOptions& options, Callback<StoreRpcResult> done,
           OpId guard = 0);
// BEP 5.
void get_peers(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
               const NodeId& info_hash, Callback<GetPeersResult> done);
// Asks the node for a token (get_peers), then announces. Port 0: implied_port (the port our
// datagrams come from). `guard` as for store.
void announce_peer(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                   const NodeId& info_hash, std::uint16_t port, Callback<AnnouncePeerResult> done,
                   OpId guard = 0);
// BEP 51.
void sample_infohashes(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                       const NodeId& target, Callback<SampleInfohashesResult> done);
// The announce_peer query, with the token the node gave us.
krpc::Query announce_query(const Rpc& rpc, const NodeId& info_hash, std::uint16_t port,
                           std::string token);

}  // namespace kad::ops
