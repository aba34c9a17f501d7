#pragma once
// The iterative lookup (Kademlia §2.3) as a plain state machine: no I/O, no time.
//
// The owner seeds it with contacts, asks next_queries() whom to query, and reports each query's
// fate: on_reply, on_soft_timeout, on_failed. It keeps the candidates nearest the target, sorted
// by distance, with at most `alpha` queries waiting. It is done when the k nearest candidates
// still in play have all answered (a value lookup: when a value has been found and the queries
// already waiting have ended).
//
// Where we differ from the paper:
// - A query past its soft timeout frees its slot: a slow or dead contact does not stall the
//   lookup, and it no longer counts among the k nearest unless it answers later.
// - When everything else has answered, the slow candidates nearer than the k-th answer are asked
//   again, all at once (up to max_attempts queries each): on a lossy path one lost datagram
//   would otherwise cost a true nearest node, and asking at the end, in parallel, costs a dead
//   node one soft timeout per attempt for the whole lookup rather than one per slot.
// - Until some candidate has answered, the lookup does not end while a query past its soft
//   timeout may still be answered (up to its hard timeout): when the delay jumps, every answer
//   comes after the soft timeouts estimated before, and ending then would end empty.
// - A value lookup returns the highest seq among the answers received, and ignores values older
//   than `min_seq` (a version the asker has already seen).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"

namespace kad {

struct LookupParams {
    NodeId target;
    NodeId self;  // never a candidate
    std::size_t k = 20;
    std::size_t alpha = 3;
    bool stop_at_value = false;  // a get: stop at the first value; a put runs to the end
    int max_attempts = 4;
    std::size_t max_candidates = 200;
    std::int64_t min_seq = 0;
    // A get or put of kadnode's own items: an answer without a token comes from a node that
    // cannot hold values (a foreign implementation). It routes the lookup (its nodes are
    // candidates) but takes none of the k places the lookup converges on.
    bool need_token = false;
};

struct LookupCandidate {
    enum class State : std::uint8_t {
        Fresh,     // not asked yet (or to be asked again)
        Waiting,   // asked; within its soft timeout
        Slow,      // asked; past its soft timeout, no further attempt
        Answered,  // replied
        Failed,    // did not reply, or replied with an error
        Routed,    // replied without the token the lookup needs: its nodes count, it does not
    };
    NodeId id;
    Endpoint endpoint;
    State state = State::Fresh;
    int depth = 0;  // 0: from our own table; d+1: named by a depth-d candidate
    int attempts = 0;
    int outstanding = 0;
    std::optional<std::string> token;
    std::optional<std::int64_t> item_seq;  // the seq of the item it returned, if any
};

struct FoundValue {
    krpc::Item item;
    NodeId from_id;
    Endpoint from;
    int hops = 0;
};

class Lookup {
public:
    using State = LookupCandidate::State;

    explicit Lookup(const LookupParams& params) : p_(params) {}

    const LookupParams& params() const noexcept { return p_; }
    const NodeId& target() const noexcept { return p_.target; }

    void add_seed(const NodeId& id, const Endpoint& ep) { add(id, ep, 0); }
    // A value the asker already holds (its own store), counted like an answer at hop 0.
    void add_local_value(const krpc::Item& item, const NodeId& self);

    // Candidates to query now. Each is marked Waiting; the caller must report its fate.
    std::vector<LookupCandidate> next_queries();

    // Returns false if the reply was not expected (unknown or already answered).
    bool on_reply(const NodeId& id, const std::vector<krpc::NodeInfo>& nodes,
                  const std::optional<std::string>& token, const std::optional<krpc::Item>& item);
    void on_soft_timeout(const NodeId& id);
    // `final`: it answered with an error, or a bad reply — do not ask again.
    void on_failed(const NodeId& id, bool final);

    bool done() const;

    // The k nearest candidates that answered, nearest first.
    std::vector<const LookupCandidate*> results() const;
    const std::optional<FoundValue>& value() const noexcept { return value_; }
    // The nearest candidate that answered without the value (or with an older one) and gave a
    // token: where a get caches what it found.
    const LookupCandidate* cache_target() const;

    // Rounds on the path to the result: for a value, the depth of the node that returned it
    // plus one; otherwise the deepest of the k results plus one.
    int hops() const;
    std::size_t queries() const noexcept { return queries_; }
    std::size_t candidates() const noexcept { return cands_.size(); }
    // The candidate with this ID, if the lookup has it.
    const LookupCandidate* candidate(const NodeId& id) const {
        return const_cast<Lookup*>(this)->find(id);  // find() changes nothing
    }
    // Candidates turned away or pushed out by max_candidates.
    std::size_t dropped() const noexcept { return dropped_; }

private:
    LookupCandidate* find(const NodeId& id);
    void add(const NodeId& id, const Endpoint& ep, int depth);
    bool window_answered() const;
    // Failed, slow or only routing: not one of the k nearest the lookup waits for.
    static bool out_of_window(const LookupCandidate& c);
    bool retry_due(const LookupCandidate& c) const;
    std::size_t result_horizon() const;
    std::size_t waiting() const;

    LookupParams p_;
    std::vector<LookupCandidate> cands_;  // sorted by distance to target, nearest first
    std::size_t dropped_ = 0;
    std::optional<FoundValue> value_;
    std::size_t queries_ = 0;
};

}  // namespace kad
