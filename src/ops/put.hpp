#pragma once
// The iterative operations that write: a put (find the k nearest nodes and their tokens and the
// newest seq, then store there) and a republish (the same for an item already held).

#include <string>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/store_on_nodes.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

class PutOp final : public Operation {
public:
    PutOp(Context& ctx, std::string key, std::string value, PutOptions options,
          Callback<PutResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override;

private:
    void on_lookup_done();
    // The version to store: options.seq, or one more than the newest seen (the same, if the
    // value is unchanged). Nothing, with the result failed, if nothing can supersede it.
    std::optional<std::int64_t> choose_seq();
    void check_stores();
    // Every node refused the new version for its size: our copy of it goes, and the one we had
    // before comes back (if it has not expired since).
    void undo_local_copy();
    // The counts so far: the lookup's queries and hops, the stores' outcomes.
    void take_counts();

    Context& ctx_;
    std::string value_;
    PutOptions options_;
    NodeId target_;
    std::optional<Traversal> traversal_;  // slot 0
    StoreOnNodes stores_;                 // slots 1, 2, ...
    Callback<PutResult> done_;
    PutResult result_;
    TimePoint started_;
    // Our copy before this put's, put back if every node refuses the new one for its size.
    std::optional<StoredItem> previous_;
    bool kept_here_ = false;  // our store of the new version went in
};

struct RepublishResult {
    std::size_t stored = 0;  // nodes that took it
    // The lookup found k nodes nearer the key than we are: we are no longer among its holders.
    bool displaced = false;
};

// Stores an item we hold on the k nearest nodes (no seq choice, no local write: kad::Maintenance
// decides what to republish and with what life).
class RepublishOp final : public Operation {
public:
    RepublishOp(Context& ctx, StoreJob job, Callback<RepublishResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    void check();

    Context& ctx_;
    StoreJob job_;
    Traversal traversal_;  // slot 0
    StoreOnNodes stores_;  // slots 1, 2, ...
    bool storing_ = false;
    Callback<RepublishResult> done_;
    RepublishResult result_;
};

}  // namespace kad::ops
