#pragma once
// Outstanding queries: who was asked what, and when to give up.
//
// Each query gets a 2-byte transaction ID that is free at the time. A reply is matched only if
// it comes from the endpoint that was asked (and, when we knew the node's ID, carries that ID).
// Each query has two deadlines: at the soft one the asker stops waiting (a lookup gives the slot
// to another contact) but a late reply still counts; at the hard one the query has failed.
// expire() collects what is due before anyone's handler runs, so handlers may add or remove
// transactions freely.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"
#include "kad/results.hpp"
#include "kad/time.hpp"

namespace kad {

class RandomSource;

enum class RpcEventKind : std::uint8_t {
    Reply,        // a response; `message` holds it
    ErrorReply,   // a KRPC error; `message` holds it
    SoftTimeout,  // no answer yet; the query stays open until the hard timeout
    Failed,       // hard timeout, a bad response, another node's ID, or cancelled
};

// What became of a query. Built with designated initialisers: RpcEvent{.kind = ..., ...}.
struct RpcEvent {
    RpcEventKind kind = RpcEventKind::Failed;
    const krpc::Message* message = nullptr;  // the reply, if there was one
    Duration rtt{};
    // ErrorReply: Refused. Failed: Timeout (the node may be alive but slow), Cancelled (the node
    // is shutting down), WrongId or BadResponse.
    Failure failure = Failure::None;
    std::string reason{};  // Failed: why, for a person
};

using RpcHandler = std::function<void(const RpcEvent&)>;

class TransactionTable {
public:
    struct Entry {
        std::uint16_t tid = 0;
        Endpoint to;
        std::optional<NodeId> expected_id;
        krpc::Method method = krpc::Method::Ping;
        TimePoint sent{};
        TimePoint soft_deadline{};
        TimePoint hard_deadline{};
        bool soft_fired = false;
        bool probe = false;  // sent from the second port (Transport::send_probe)
        RpcHandler handler;
    };

    enum class Match : std::uint8_t { Ok, UnknownTransaction, WrongEndpoint, WrongId };

    explicit TransactionTable(std::size_t capacity) : capacity_(capacity) {}

    // A transaction ID not in use, or nullopt when the table is full.
    std::optional<std::uint16_t> allocate(RandomSource& rng) const;
    void add(Entry e);

    // Finds the transaction a reply answers. On Ok the entry is removed and returned in `out`.
    // WrongId also removes it (the endpoint answered as someone else: the query failed).
    Match take(std::string_view tid, const Endpoint& from, const std::optional<NodeId>& id,
               Entry& out);

    // Moves due soft timeouts (the entries stay) and hard timeouts (removed) into the outputs.
    void expire(TimePoint now, std::vector<std::uint16_t>& soft, std::vector<Entry>& hard);
    // Handler of a still-open transaction, for delivering a soft timeout.
    const Entry* find(std::uint16_t tid) const;
    // Removes everything (for shutdown); the entries are returned so their handlers can run.
    std::vector<Entry> take_all();

    TimePoint next_deadline() const noexcept;
    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

    static std::string encode_tid(std::uint16_t tid);

private:
    using Deadline = std::pair<TimePoint, std::uint16_t>;
    TimePoint deadline_of(const Entry& e) const {
        return e.soft_fired ? e.hard_deadline : e.soft_deadline;
    }
    // Position of tid in entries_, or entries_.size().
    std::size_t index_of(std::uint16_t tid) const;
    void remove_at(std::size_t i);
    void add_deadline(const Deadline& d);
    void erase_deadline(const Deadline& d);

    // Flat and small: a node has a few dozen queries open at most times, and a simulator runs
    // 100,000 nodes, each touching its table on every datagram. A scan of tids_ (2 bytes an
    // entry, beside entries_) costs less than a hash map's pointer chase, and a sorted vector
    // of deadlines less than a tree's nodes.
    std::size_t capacity_;
    std::vector<std::uint16_t> tids_;  // tids_[i] == entries_[i].tid
    std::vector<Entry> entries_;
    std::vector<Deadline> deadlines_;  // ascending: the earliest first
};

}  // namespace kad
