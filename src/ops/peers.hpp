#pragma once
// BEP 5's iterative operations: find the peers of a swarm (get_peers to the nearest nodes,
// collecting the "values" every answer carries), and announce ourselves in it (the same lookup,
// then announce_peer to the k nearest with the tokens they gave).

#include <set>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/store_on_nodes.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

// Peers found on the way, each once, up to a bound.
class PeerCollector {
public:
    explicit PeerCollector(std::size_t max) : max_(max) {}
    void add(const krpc::Response& r);
    void add(const std::vector<Endpoint>& peers);
    std::vector<Endpoint> take() { return std::move(peers_); }

private:
    std::size_t max_;
    std::set<Endpoint> seen_;
    std::vector<Endpoint> peers_;
};

class FindPeersOp final : public Operation {
public:
    FindPeersOp(Context& ctx, const NodeId& info_hash, Callback<FindPeersResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    void check();

    Context& ctx_;
    Traversal traversal_;
    PeerCollector peers_;
    Callback<FindPeersResult> done_;
    FindPeersResult result_;
};

class AnnounceOp final : public Operation {
public:
    // Port 0: implied_port, the port our datagrams come from.
    AnnounceOp(Context& ctx, const NodeId& info_hash, std::uint16_t port,
               Callback<AnnounceResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    void check();
    void take_counts();

    Context& ctx_;
    Traversal traversal_;     // slot 0
    StoreOnNodes announces_;  // slots 1, 2, ...
    bool announcing_ = false;
    PeerCollector peers_;
    Callback<AnnounceResult> done_;
    AnnounceResult result_;
};

}  // namespace kad::ops
