#pragma once
// Joining a network: ping the given peers; at the first answer, look up our own ID (which fills
// the buckets near us); then refresh every range farther from us than the k-th nearest node that
// lookup found, so that the table covers the whole ID space (the nearer ranges the lookup has
// covered). Done when those lookups end.

#include <memory>
#include <string>
#include <vector>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

class BootstrapOp final : public Operation {
public:
    BootstrapOp(Context& ctx, std::vector<BootstrapPeer> peers, Callback<BootstrapResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    // Slots: one per peer's ping, then the lookup of our own ID, then the refreshes.
    std::uint32_t self_slot() const { return static_cast<std::uint32_t>(peers_.size()); }
    void on_ping(const BootstrapPeer& peer, const RpcEvent& e);
    void on_lookup(std::uint32_t slot, const NodeId& peer, const RpcEvent& e);
    void start_refreshes();
    void peer_failed(Failure code, std::string why);
    // Ends with the peers' errors: "no bootstrap node answered (a: why; b: why)".
    void fail_with_errors(std::string what);
    void conclude(Failure code, std::string error);

    Context& ctx_;
    std::vector<BootstrapPeer> peers_;
    Callback<BootstrapResult> done_;
    BootstrapResult result_;
    TimePoint started_;
    std::size_t pending_pings_ = 0;
    std::size_t pending_lookups_ = 0;
    std::optional<Traversal> self_lookup_;
    std::vector<std::unique_ptr<Traversal>> refreshes_;
    std::vector<std::string> errors_;
    Failure first_failure_ = Failure::None;
};

}  // namespace kad::ops
