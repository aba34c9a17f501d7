#pragma once
// Keys this node watches (Node::watch): each new version of a key, wherever it appears, is
// reported once. A version is found by a get of the key every watch_interval (the lookup a get
// makes, from the nearest holders), and at once when it is stored here, this node being one of
// the key's holders.
//
// The class keeps the schedule and what was reported; the node starts the gets (take_due()) and
// hands back their results (polled()) and the stores made here (stored()). What a store here
// brings is reported from deliver(), which the node calls from handle_timeout(): never from
// inside the store, so a callback may call back into the node.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kad/results.hpp"
#include "kad/storage.hpp"

namespace kad {

using WatchId = std::uint64_t;

// One new version of a watched key.
struct WatchEvent {
    WatchId id = 0;
    krpc::Item item;
    krpc::NodeInfo from;  // who had it (our own ID when it was stored here)
    bool here = false;    // stored on this node (rather than found by a get)
};

class Watches {
public:
    Watches(Duration interval, std::size_t max) : interval_(interval), max_(max) {}

    // Watches `key` from now: the first get is due at once. Nothing if `max` are watched.
    std::optional<WatchId> add(std::string key, Callback<WatchEvent> on_event, TimePoint now);
    // False if it is not watched (any more).
    bool remove(WatchId id);

    // The watches whose get is due, with their keys: each is then running until polled().
    std::vector<std::pair<WatchId, std::string>> take_due(TimePoint now);
    // A watch's get ended: reports its item if newer than what was reported, and sets the next.
    void polled(WatchId id, const GetResult& r, TimePoint now);
    // An item was stored here (any writer): a watch of its key reports it if it is newer, at
    // the next deliver().
    void stored(const StoredItem& item, const krpc::NodeInfo& self);
    // Reports what stored() found.
    void deliver();

    TimePoint next_due() const;
    std::size_t size() const noexcept { return watches_.size(); }
    std::size_t capacity() const noexcept { return max_; }
    const std::string* key(WatchId id) const;

private:
    struct Watch {
        std::string key;
        NodeId target;
        Callback<WatchEvent> on_event;
        std::optional<std::int64_t> reported;  // the newest seq reported
        TimePoint next{};
        bool polling = false;
    };
    // Reports `item` to watch `w` if it is newer than what it reported.
    void offer(WatchId id, Watch& w, const krpc::Item& item, const krpc::NodeInfo& from, bool here);

    Duration interval_;
    std::size_t max_;
    std::map<WatchId, Watch> watches_;
    std::vector<WatchEvent> pending_;  // stored here, to report at deliver()
    WatchId next_id_ = 1;
};

}  // namespace kad
