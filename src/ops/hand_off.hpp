#pragma once
// A graceful leave: before a planned stop, each item we hold goes to its k nearest nodes other
// than us. Each is asked whether it has this version (find_value) and, if not, given it with the
// token that answer carried. A node that does not answer is not asked again, and the next
// nearest (up to 2k) takes its place, so that k nodes end up with each item. At most
// config.max_handoffs requests are in flight; the caller bounds the whole in time.

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/store_on_nodes.hpp"

namespace kad::ops {

class HandOffOp final : public Operation {
public:
    HandOffOp(Context& ctx, Callback<HandoffResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    struct Task {
        StoreJob job;
        std::vector<krpc::NodeInfo> nodes;  // the 2k nearest, nearest first
        std::size_t next = 0, confirmed = 0, running = 0;
    };
    // One (item, node) pair: a find_value, then perhaps a store. Its index is its slot.
    struct Request {
        std::size_t task = 0;
        krpc::NodeInfo node;
        bool storing = false;
    };

    // Asks nodes of task i until k have it, or are being asked, or none is left.
    void launch(std::size_t i);
    bool send(std::size_t request, krpc::Query query);
    void on_find_value(std::size_t request, const RpcEvent& e);
    void on_store(std::size_t request, const RpcEvent& e);
    // A request ended: the node has the item (confirmed) or not.
    void ended(std::size_t request, bool confirmed);
    void step();

    Context& ctx_;
    Callback<HandoffResult> done_;
    HandoffResult result_;
    TimePoint started_;
    std::vector<Task> tasks_;
    std::vector<Request> requests_;
    std::unordered_set<NodeId> silent_;  // did not answer once: not asked again
    std::size_t cursor_ = 0;             // the next task to launch
    std::size_t running_ = 0;            // requests in flight
};

}  // namespace kad::ops
