#pragma once
// The iterative operations that read: a node lookup (the REPL's ln, a bucket refresh) and a get.

#include <string>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

inline constexpr const char* kTooManyLookups = "too many lookups running";

// The k nodes nearest a target.
class LookupOp final : public Operation {
public:
    // `done` may be empty (a bucket refresh reports to nobody). `k`: the nodes the lookup
    // converges on (0: config.k).
    LookupOp(Context& ctx, const NodeId& target, Callback<LookupResult> done, std::size_t k = 0,
             Trace trace = {});
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override;

private:
    void check();

    Context& ctx_;
    Traversal traversal_;
    Callback<LookupResult> done_;
    LookupResult result_;
};

// A value lookup that stops at the first value, returns the newest version the answers hold,
// never one older than this node has seen, and caches it at the nearest node that lacked it.
class GetOp final : public Operation {
public:
    GetOp(Context& ctx, std::string key, Callback<GetResult> done, Trace trace = {});
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override;

private:
    void check();
    void cache(const FoundValue& found);

    Context& ctx_;
    NodeId target_;
    std::optional<Traversal> traversal_;  // once the key has passed the checks
    Callback<GetResult> done_;
    Trace trace_;
    GetResult result_;
    TimePoint started_;
};

}  // namespace kad::ops
