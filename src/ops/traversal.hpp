#pragma once
// The lookup engine that operations run on (libtorrent's traversal_algorithm): a kad::Lookup
// state machine, seeded from the routing table, whose queries go out through Rpc as one
// operation's slot. Each operation that needs the k nearest nodes (a lookup, a get, a put, a
// republish, a bootstrap's joins) owns one or more and says what to do with the result.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "kad/lookup.hpp"
#include "kad/storage.hpp"
#include "ops/context.hpp"
#include "ops/operation.hpp"

namespace kad::ops {

struct TraversalOptions {
    NodeId target{};
    // The query it sends: find_node, find_value (items and tokens) or get_peers (peers and
    // tokens).
    krpc::Method method = krpc::Method::FindNode;
    bool stop_at_value = false;         // a get: stop asking at the first value
    std::int64_t min_seq = 0;           // values older than this are ignored
    const StoredItem* local = nullptr;  // our own copy: found at hop 0
    std::string salt{};                 // BEP 44 get: the salt a mutable item is checked with
    std::size_t k = 0;                  // the nodes it converges on; 0: config.k
    int attempts = 0;                   // queries to one candidate; 0: config.lookup_attempts
    Trace trace{};                      // each query and its fate, as it happens (--trace)
};

class Traversal {
public:
    Traversal(Context& ctx, const TraversalOptions& options);
    ~Traversal();
    Traversal(const Traversal&) = delete;
    Traversal& operator=(const Traversal&) = delete;

    // Whether another lookup may start (fewer than config.max_lookups are running); a refusal
    // is counted.
    static bool admit(Context& ctx);
    // Seeds the lookup from the routing table and sends the first queries as `owner`'s `slot`.
    // False, with nothing sent, when admit() refuses.
    bool start(const Operation& owner, std::uint32_t slot);
    // An event for one of its queries. Ignored once the lookup is done (a late answer).
    void on_rpc(const NodeId& peer, const RpcEvent& e);
    // Stops a running lookup (its operation was cancelled): it no longer counts as running, and
    // ignores what still arrives.
    void stop();
    // Called with every answer the lookup accepts (a get_peers lookup collects "values" so).
    void set_answer_hook(std::function<void(const krpc::Response&)> hook) {
        answered_ = std::move(hook);
    }
    bool done() const noexcept { return done_; }

    const Lookup& lookup() const noexcept { return lookup_; }
    const NodeId& target() const noexcept { return lookup_.target(); }
    TimePoint started() const noexcept { return started_; }

private:
    void pump();
    krpc::Query query(const NodeId& peer) const;
    // Why the answer is not believed (the peer then counts as failed); empty if it is.
    std::string on_answer(const NodeId& peer, const krpc::Response& resp, Duration rtt);
    // A trace event about `peer`, with what the lookup knows of it (endpoint, depth) filled in.
    TraceEvent event(TraceEvent::Kind kind, const NodeId& peer) const;
    void conclude();
    // Why an item in a find_value answer cannot be believed; empty if it can.
    std::string item_problem(const krpc::Item& item) const;
    // The same for a BEP 44 get answer's item.
    std::string data_problem(const krpc::Response& resp) const;

    Context& ctx_;
    Lookup lookup_;
    krpc::Method method_;
    std::string salt_;
    std::function<void(const krpc::Response&)> answered_;
    Trace trace_;
    const StoredItem* local_;
    const Operation* owner_ = nullptr;
    std::uint32_t slot_ = 0;
    TimePoint started_{};
    bool running_ = false;
    bool done_ = false;
};

}  // namespace kad::ops
