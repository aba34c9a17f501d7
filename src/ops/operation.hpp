#pragma once
// Operations as named types, owned by the node in a table keyed by an operation ID.
//
// An operation (a get, a put, a bootstrap, ...) keeps its own state and sends queries through
// kad::Rpc with handler(slot, peer): the handler carries the operation's ID and the slot (which
// of its queries this is), never the operation itself. Operations::deliver() finds the operation
// by ID, so a reply that comes after the operation ended finds nothing, and no closure keeps an
// operation alive. When an event finishes an operation, the table removes it first and then runs
// complete(), which reports to whoever started it: that callback may start other operations or
// cancel everything.
//
// A single RPC (ops/probes.hpp) is no operation of the table: its handler owns the caller's
// callback. guard() gives it an ID too, so that cancel() can end it like any other.

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kad/node_id.hpp"
#include "kad/results.hpp"
#include "kad/transactions.hpp"

namespace kad::ops {

using OpId = OperationId;
class Operations;

class Operation {
public:
    virtual ~Operation() = default;

    // Sends the first queries. May finish at once (a bad argument, nothing to ask).
    virtual void start() = 0;
    // The fate of one of its queries, sent with handler(slot, peer).
    virtual void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) = 0;
    // The node is stopping: the result is to say "cancelled".
    virtual void cancel() = 0;
    // Reports the result. Runs once, after the operation has left the table.
    virtual void complete() = 0;

    bool finished() const noexcept { return finished_; }
    OpId id() const noexcept { return id_; }
    // The handler for one of its queries: routes the event back through the table by ID.
    RpcHandler handler(std::uint32_t slot, const NodeId& peer = {}) const;

protected:
    void finish() noexcept { finished_ = true; }

private:
    friend class Operations;
    Operations* table_ = nullptr;
    OpId id_ = 0;
    bool finished_ = false;
};

class Operations {
public:
    Operations() = default;
    Operations(const Operations&) = delete;
    Operations& operator=(const Operations&) = delete;

    // Adds an operation and starts it; if it finished while starting, it completes at once.
    template <class Op, class... Args>
    OpId start(Args&&... args) {
        auto op = std::make_unique<Op>(std::forward<Args>(args)...);
        Operation& ref = *op;
        ref.table_ = this;
        ref.id_ = next_id_++;
        const OpId id = ref.id_;
        ops_.push_back({id, std::move(op)});  // IDs only grow: the table stays in ID order
        ref.start();
        settle(id);
        return id;
    }

    // A single RPC's callback, made cancellable under a new ID (in `id`): cancel(id) completes
    // it at once with "cancelled", and the RPC's own result, when it comes, is dropped.
    template <class Result>
    Callback<Result> guard(Callback<Result> cb, OpId& id) {
        id = next_id_++;
        auto held = std::make_shared<Callback<Result>>(std::move(cb));
        guards_.emplace(id, [held] {
            Result r;
            r.fail(Failure::Cancelled, "cancelled");
            if (auto cb = std::exchange(*held, {})) cb(r);
        });
        return [this, id, held](const Result& r) {
            auto cb = std::exchange(*held, {});
            if (!cb) return;  // cancelled
            guards_.erase(id);
            cb(r);
        };
    }

    // Ends operation `id` (or a guarded RPC) with "cancelled": it leaves the table, stops, and
    // reports, inside this call. Its queries in flight are left to time out; their answers find
    // no operation. False if it is not running.
    bool cancel(OpId id);
    // Whether operation `id` (or a guarded RPC) has yet to report.
    bool running(OpId id) const { return find(id) != ops_.end() || guards_.contains(id); }
    // Completes every guarded RPC still waiting with "cancelled" (for shutdown).
    void cancel_guards();

    // An RPC event for operation `id`; nothing if it has ended.
    void deliver(OpId id, std::uint32_t slot, const NodeId& peer, const RpcEvent& e);
    // Takes every operation out of the table (for shutdown): the caller cancels and completes
    // them once the table is clean.
    std::vector<std::unique_ptr<Operation>> take_all();
    std::size_t size() const noexcept { return ops_.size(); }

private:
    struct Entry {
        OpId id;
        std::unique_ptr<Operation> op;
    };
    // Operation `id`'s entry, or end().
    std::vector<Entry>::const_iterator find(OpId id) const;
    std::vector<Entry>::iterator find(OpId id);
    // Completes and removes operation `id` if it has finished.
    void settle(OpId id);

    // In ID order, searched by halves: a node has a few operations at a time, and every answer
    // finds its own here (a hash map cost three cache misses an answer at 100,000 simulated
    // nodes: bucket, node, operation).
    std::vector<Entry> ops_;
    std::unordered_map<OpId, std::function<void()>> guards_;  // a guarded RPC's cancel
    OpId next_id_ = 1;
};

}  // namespace kad::ops
