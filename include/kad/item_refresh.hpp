#pragma once
// BEP 44 items this node put, put again before they expire. BEP 44 leaves keeping an item alive
// to whoever published it: storing nodes drop it after NodeConfig::item_ttl (2 h) and never
// republish it themselves. So the node that put an item (bput, mput, put_item) puts the same
// version again every publisher_refresh x item_ttl (1.5 h by default), for as long as it holds
// its own copy, across restarts when the state is kept (--state-dir). A mutable item is put as it
// was signed: no new signature, no new seq. A newer version found in the network (the same key
// used by another process) ends the refresh: it is that writer's now.
//
// The schedule is a due-time index like Maintenance's; the puts themselves go through Actions.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kad/due_index.hpp"
#include "kad/node_config.hpp"
#include "kad/storage.hpp"

namespace kad {

class ItemRefresh {
public:
    class Actions {
    public:
        virtual ~Actions() = default;
        // Puts `item` (from the BEP 44 store) again on the nodes nearest it, then calls done().
        // False if it could not start (done() is not called then).
        virtual bool put_again(const StoredItem& item) = 0;
    };

    // The references must outlive it. It registers as the item store's erase hook, to forget
    // items that leave the store.
    ItemRefresh(const NodeConfig& config, const TimePoint& now, Storage& items, NodeStats& stats,
                Actions& actions);
    ~ItemRefresh() { items_.set_erase_hook({}); }
    ItemRefresh(const ItemRefresh&) = delete;
    ItemRefresh& operator=(const ItemRefresh&) = delete;

    // A put of ours stored the item here: we are its publisher from now on.
    void on_published(const NodeId& target);
    // The item came back from a state file (refreshed if it is ours).
    void on_restored(const NodeId& target);
    // We no longer publish the item (Node::unpublish): no more puts, and it expires.
    void on_unpublished(const NodeId& target);
    enum class Outcome : std::uint8_t {
        Stored,      // on_published() has set the next time
        Failed,      // nobody answered (or nobody to ask): tried again after kRetry
        Refused,     // every node that answered refused it: tried again an interval later
        Superseded,  // a version newer than ours is in the network (or 302): we stop
    };
    static constexpr Duration kRetry = std::chrono::minutes(1);
    // A put again ended.
    void done(const NodeId& target, Outcome outcome);
    // Nobody took it (no contacts yet, as after a restart; every node silent): out again after
    // kRetry rather than a whole interval.
    void retry(const NodeId& target);

    // Starts the puts that are due (at most max_republishes at once).
    void run();
    TimePoint next_due() const { return due_.next(); }

    // When the item is next put again; nothing if it is not (not ours, or superseded).
    std::optional<TimePoint> due(const NodeId& target) const;
    std::size_t size() const noexcept { return due_.size(); }
    std::size_t running() const noexcept { return running_; }

private:
    Duration interval() const;  // from one put to the next

    const NodeConfig& config_;
    const TimePoint& now_;
    Storage& items_;
    NodeStats& stats_;
    Actions& actions_;
    DueIndex due_;
    std::size_t running_ = 0;
};

}  // namespace kad
