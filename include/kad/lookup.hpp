#pragma once
// The iterative lookup (Kademlia §2.3) as a plain state machine: no I/O, no time.
//
// The owner seeds it with contacts, asks next_queries() whom to query, and reports each query's
// fate: on_reply, on_soft_timeout, on_failed. It keeps the candidates nearest the target, sorted
// by distance, with at most `alpha` queries waiting. It is done when the k nearest candidates
// still in play have all answered (a value lookup: when a value has been found and the queries
// waiting nearer the key than the node that returned it have ended).
//
// Where we differ from the paper:
// - A query past its soft timeout frees its slot: a slow or dead contact does not stall the
//   lookup, and it no longer counts among the k nearest unless it answers later.
// - The search runs alpha queries at a time only on its frontier, the candidates nearer than
//   the nearest answer; once the frontier is empty (the nearest known node has answered), the
//   rest of the k nearest are asked all at once, as the paper's last round.
// - A slow candidate that would be among the k results if alive is asked again at once, with all
//   its remaining attempts (up to max_attempts queries in all) together: on a lossy path one lost
//   datagram would otherwise cost a true nearest node, and sending them together, beside the
//   rest of the search, costs a dead node two soft timeouts in all rather than one per
//   attempt. The lookup waits for them (Retrying) but they hold no place in the frontier.
// - Patience with the nearest: a converged lookup waits for a silent candidate among the
//   nearest `wait_nearest` in play (by default 20: all, at the default k) until its first query's
//   hard timeout, not only its soft timeouts, as a slow host there would otherwise be missing from
//   the results. Only while at most `wait_max_silent` of the k nearest are silent: one or two
//   silent among neighbours that answered are likelier slow hosts, several likelier stale contacts,
//   and waiting for the dead is what the soft timeouts avoid. (The owner turns patience off where
//   round trips have no slow tail: Rpc::slow_tail.)
// - Until some candidate has answered, the lookup does not end while a query past its soft
//   timeout may still be answered (up to its hard timeout): when the delay jumps, every answer
//   comes after the soft timeouts estimated before, and ending then would end empty.
// - A value lookup returns the highest seq among the answers received, and ignores values older
//   than `min_seq` (a version the asker has already seen).

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kad/big_endian.hpp"
#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

struct LookupParams {
    NodeId target;
    NodeId self;  // never a candidate
    std::size_t k = 20;
    std::size_t alpha = 3;
    bool stop_at_value = false;  // a get: stop at the first value; a put runs to the end
    int max_attempts = 4;
    // Patience: a converged lookup waits for a silent candidate among the nearest `wait_nearest`
    // in play until its first query's hard timeout, not only its soft timeouts; but only while
    // no more than `wait_max_silent` of the k nearest in play are silent.
    std::size_t wait_nearest = 20;
    std::size_t wait_max_silent = 2;
    std::size_t max_candidates = 200;
    std::int64_t min_seq = 0;
    // A get or put of kadnode's own items: an answer without a token comes from a node that
    // cannot hold values (a foreign implementation). It routes the lookup (its nodes are
    // candidates) but takes none of the k places the lookup converges on.
    bool need_token = false;
};

// Where a candidate stands.
enum class CandidateState : std::uint8_t {
    Fresh,     // not asked yet (or to be asked again)
    Waiting,   // asked; within its soft timeout
    Slow,      // asked; past its soft timeout (asked again when it matters, see below)
    Retrying,  // silent, asked again: the lookup waits one soft timeout for it
    Answered,  // replied
    Failed,    // did not reply, or replied with an error
    Routed,    // replied without the token the lookup needs: its nodes count, it does not
};

struct CandidateStatus {
    CandidateState state = CandidateState::Fresh;
    int attempts = 0;     // queries sent to it
    int outstanding = 0;  // of those, not yet answered or failed
};

// What a lookup knows of a candidate: who it is, how it was found, what it answered. Its state
// is kept apart, in the lookup's order of distance (Lookup::status).
struct LookupCandidate {
    NodeId id;
    Endpoint endpoint;
    int depth = 0;  // 0: from our own table; d+1: named by a depth-d candidate
    // The token it gave, if any: kept by its Lookup (which outlives its candidates).
    const std::string* token = nullptr;
    std::optional<std::int64_t> item_seq;  // the seq of the item it returned, if any
    // The round trips on its path: the shortest chain of answers that led to it (the sum of
    // their RTTs), and, once it answered, that plus its own. No lookup could have its answer
    // sooner, whatever its parallelism and timeouts: the lookup's bound.
    Duration named_after{};
    Duration path{};
};

struct FoundValue {
    krpc::Item item;
    NodeId from_id;
    Endpoint from;
    int hops = 0;
    Duration path{};  // the round trips on the path to it (LookupCandidate::path)
};

class Lookup {
public:
    using State = CandidateState;
    // A candidate is asked at most this many times (LookupParams::max_attempts is capped here).
    static constexpr int kMaxAttempts = 255;

    explicit Lookup(const LookupParams& params);
    // Its candidates point into its tokens: a move keeps them where they are, a copy would not.
    Lookup(Lookup&&) noexcept = default;
    Lookup& operator=(Lookup&&) noexcept = default;
    Lookup(const Lookup&) = delete;
    Lookup& operator=(const Lookup&) = delete;
    ~Lookup() = default;

    const LookupParams& params() const noexcept { return p_; }
    const NodeId& target() const noexcept { return p_.target; }

    void add_seed(const NodeId& id, const Endpoint& ep) { add(id, ep, 0, Duration::zero()); }
    // A value the asker already holds (its own store), counted like an answer at hop 0.
    void add_local_value(const krpc::Item& item, const NodeId& self);

    // Candidates to query now. Each is marked Waiting; the caller must report its fate.
    std::vector<krpc::NodeInfo> next_queries();

    // Returns false if the reply was not expected (unknown or already answered). `rtt`: the
    // answered query's round trip (for bound()).
    bool on_reply(const NodeId& id, const std::vector<krpc::NodeInfo>& nodes,
                  const std::optional<std::string>& token, const std::optional<krpc::Item>& item,
                  Duration rtt = Duration::zero());
    void on_soft_timeout(const NodeId& id);
    // `final`: it answered with an error, or a bad reply — do not ask again.
    void on_failed(const NodeId& id, bool final);

    bool done() const;

    // The k nearest candidates that answered, nearest first. These pointers, and candidate()'s,
    // stay valid as the lookup goes on (records never move); but a candidate pushed out by
    // max_candidates gives its record to the one that pushed it out, so a pointer to a far
    // candidate may come to name another.
    std::vector<const LookupCandidate*> results() const;
    const std::optional<FoundValue>& value() const noexcept { return value_; }
    // The nearest candidate that answered without the value (or with an older one) and gave a
    // token: where a get caches what it found.
    const LookupCandidate* cache_target() const;

    // Rounds on the path to the result: for a value, the depth of the node that returned it
    // plus one; otherwise the deepest of the k results plus one.
    int hops() const;
    // The least time any lookup could have taken to the same result, given the round trips it
    // met: the longest path (LookupCandidate::path) among the results, or the path to the value
    // for a lookup that stopped at one. Its latency over this is how far from ideal it ran.
    Duration bound() const;
    std::size_t queries() const noexcept { return queries_; }
    std::size_t candidates() const noexcept { return order_.size(); }
    // The candidate with this ID, if the lookup has it, and where it stands.
    const LookupCandidate* candidate(const NodeId& id) const;
    std::optional<CandidateStatus> status(const NodeId& id) const;
    // Candidates turned away or pushed out by max_candidates.
    std::size_t dropped() const noexcept { return dropped_; }

private:
    // A candidate's place in the order of distance, with what the lookup's scans read: 16
    // bytes, so that a scan or a binary search over the candidates touches a few cache lines
    // and an insertion moves little (a record is 88 bytes; a lookup keeps up to 200).
    struct Rank {
        std::uint64_t key;    // the first 64 bits of its distance to the target (id XOR target)
        std::uint32_t index;  // its record (rec())
        State state;
        std::uint8_t attempts;
        std::uint8_t outstanding;
    };
    static_assert(sizeof(Rank) == 16);

    // Where a candidate with this ID is or would be in order_. Distances to the target are
    // distinct for distinct IDs; ranks are compared on their keys, whole distances only where
    // the keys are equal.
    std::size_t position(const NodeId& id, std::uint64_t key) const;
    Rank* find(const NodeId& id);
    const Rank* find(const NodeId& id) const;
    std::uint64_t key_of(const NodeId& id) const noexcept {
        return load_be64(id.bytes().data()) ^ target_word_;
    }
    void add(const NodeId& id, const Endpoint& ep, int depth, Duration named_after);
    bool window_answered() const;
    // Failed, slow or only routing: not one of the k nearest the lookup waits for.
    static bool out_of_window(const Rank& r);
    bool retry_due(const Rank& r) const;
    std::size_t eligible_end() const;
    // The index in order_ of the nearest candidate that answered; order_.size() if none has.
    std::size_t nearest_answer() const;
    // Whether a silent candidate among the nearest wait_nearest in play is still to be waited for.
    bool waiting_for_nearest() const;

    LookupParams p_;
    std::uint64_t target_word_;  // the target's first 64 bits (key_of)
    LookupCandidate& rec(std::uint32_t i) { return blocks_[i / kBlock][i % kBlock]; }
    const LookupCandidate& rec(std::uint32_t i) const { return blocks_[i / kBlock][i % kBlock]; }

    // The records in arrival order, in blocks that never move: the lookup grows without copying
    // them (a vector's copies as it grew were a fifth of a lookup's memory writes), and a
    // pointer to one stays valid. One pushed out by max_candidates leaves its record to the
    // candidate that pushed it out.
    static constexpr std::uint32_t kBlock = 16;
    std::vector<std::unique_ptr<LookupCandidate[]>> blocks_;
    std::uint32_t records_ = 0;
    std::vector<Rank> order_;                // sorted by distance to target, nearest first
    std::forward_list<std::string> tokens_;  // the candidates' tokens (a list: they stay put)
    std::size_t dropped_ = 0;
    std::optional<FoundValue> value_;
    std::size_t queries_ = 0;
};

}  // namespace kad
