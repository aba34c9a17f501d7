#pragma once
// A write to a set of nodes, each with the write token it gave, and what each node said: storing
// an item (the second half of a put and of a republish) or announcing a peer (of an announce).
// Its queries go out as consecutive slots of the operation that owns it.
//
// The nodes answered the lookup a moment ago, so a write's silence is most likely a lost
// datagram: at its soft timeout it is sent again, all its remaining attempts together
// (config.lookup_attempts in all, as a lookup asks a silent candidate), and a node that lets the
// soft timeout of those pass too counts as not answering. The operation then ends in about two
// soft timeouts rather than waiting the hard timeout (2 s) for one lost datagram.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kad/lookup.hpp"
#include "kad/results.hpp"
#include "ops/context.hpp"
#include "ops/operation.hpp"

namespace kad::ops {

// One version of an item, to be stored on other nodes.
struct StoreJob {
    std::string key;
    std::string value;
    std::int64_t seq = 0;
    std::optional<Duration> ttl;  // nullopt: the holder's default
};

// The store query for `job`, with the token the node gave us.
krpc::Query store_query(const Rpc& rpc, const StoreJob& job, std::string token);

class StoreOnNodes {
public:
    // Sends a store to each node that gave a token, as `owner`'s slots first_slot, ... .
    void start(Context& ctx, const Operation& owner, std::uint32_t first_slot,
               const std::vector<const LookupCandidate*>& nodes, const StoreJob& job);
    // The same with any write: `make` builds the query from a node's token.
    void start(Context& ctx, const Operation& owner, std::uint32_t first_slot,
               const std::vector<const LookupCandidate*>& nodes,
               const std::function<krpc::Query(std::string token)>& make);
    // An event for slot `slot`; false if the slot is not one of its stores.
    bool on_rpc(std::uint32_t slot, const RpcEvent& e);
    bool done() const noexcept { return pending_ == 0; }

    std::size_t stored = 0;                 // accepted
    std::vector<krpc::NodeInfo> accepting;  // who accepted
    std::size_t refused = 0;                // answered with an error
    std::size_t too_big = 0;                // ... with 205: the key or value is over its limits
    std::size_t failed = 0;                 // did not answer, or could not be sent
    std::vector<std::pair<krpc::NodeInfo, std::string>> refusals;  // who refused, and why

private:
    struct Write {
        krpc::NodeInfo node;
        krpc::Query query;
        int sent = 0;         // attempts
        int outstanding = 0;  // attempts not yet answered or failed
        bool ended = false;
    };
    // Sends one more attempt of writes_[i]; false if it could not be sent.
    bool send(std::size_t i);
    void end(Write& w);

    Context* ctx_ = nullptr;
    const Operation* owner_ = nullptr;
    std::uint32_t first_ = 0;
    std::vector<Write> writes_;  // by slot - first_
    std::size_t pending_ = 0;
};

}  // namespace kad::ops
