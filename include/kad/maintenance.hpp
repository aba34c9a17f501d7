#pragma once
// What a node does on its own to keep its routing table and its data alive (Kademlia §2.3, §2.5):
// bucket refresh, republishing held items, refreshing our own, and handing items to new nodes
// that are nearer their keys. This is the policy, with its schedule; the work itself (lookups,
// stores) goes through Actions, which kad::Node implements with its operations, and a test with
// a recorder.
//
// | what                 | when                                                          |
// |----------------------|---------------------------------------------------------------|
// | bucket refresh       | a bucket untouched for config.bucket_refresh                   |
// | holder republish     | republish_interval (x1.0-1.1 jitter) after a peer stored it    |
// | publisher refresh    | publisher_refresh x TTL after we published it                 |
// | hand-off             | a contact enters the table among an item's k nearest           |
// | recheck              | a failing contact, after routing.recheck_after (backing off)   |
// | early refresh        | a contact cut off for a while answers again (backing off)      |
//
// Where we differ from the paper:
// - A holder that knows k contacts nearer a key than itself stops republishing it (retires), and
//   so does one whose republish finds k nearer nodes; its copy stays until it expires. Without
//   this, nodes displaced by newcomers would each keep republishing every hour.
// - Only the nearest holder hands an item to a newcomer (the node that knows no contact nearer
//   the key than itself), not all k of them; the hourly republish covers what this misses.
// - Failing contacts are pinged again with backoff (RoutingTable::recheck), and when one that had
//   been cut off answers again (a partition healed), our own ID and every bucket with fewer than
//   k contacts are refreshed at once, not an hour later: the other side fills the table again
//   within minutes. Such early refreshes back off from recovery_refresh to bucket_refresh while
//   recoveries keep coming (steady loss), and start again from recovery_refresh after a quiet
//   spell.
//
// Each item's next republish sits in a due-time index (DueIndex: by time, then target), so a
// wake-up costs O(log n) for the items due, not a scan of the store. Due items are looked at no
// more often than config.republish_check, and at most config.max_republishes run at once.

#include <cstdint>
#include <optional>
#include <vector>

#include "kad/due_index.hpp"
#include "kad/node_config.hpp"
#include "kad/random.hpp"
#include "kad/routing_table.hpp"
#include "kad/storage.hpp"

namespace kad {

class Maintenance {
public:
    class Actions {
    public:
        virtual ~Actions() = default;
        // Looks up `target`, refreshing its bucket. False if no lookup could start.
        virtual bool refresh(const NodeId& target) = 0;
        // Stores `item` with life `ttl` on its k nearest nodes, and then calls republish_done().
        // False if it could not start (republish_done() is not called then).
        virtual bool republish(const StoredItem& item, Duration ttl) = 0;
        // Gives `item` with life `ttl` to one node, and then calls hand_off_done().
        virtual void hand_off(const StoredItem& item, Duration ttl, const NodeId& to,
                              const Endpoint& at) = 0;
        // Pings a contact for the routing table (which learns the outcome itself).
        virtual void ping(const PingRequest& request) = 0;
    };

    // The references must outlive it; `now` is the node's clock. It registers as the storage's
    // erase hook, to forget the schedule of items that leave the store.
    Maintenance(const NodeConfig& config, const TimePoint& now, RoutingTable& table,
                Storage& storage, RandomSource& rng, NodeStats& stats, Actions& actions);
    ~Maintenance() { storage_.set_erase_hook({}); }
    Maintenance(const Maintenance&) = delete;
    Maintenance& operator=(const Maintenance&) = delete;

    // ---- what the node tells it ----
    // A peer stored the item to us: another holder republished it, ours can wait an interval.
    void on_stored(const NodeId& target);
    // We put the item: we are its publisher, and refresh it before it expires.
    void on_published(const NodeId& target);
    // The item came back from a state file.
    void on_restored(const NodeId& target);
    // We no longer publish the item (Node::unpublish): it is held as any other, republished
    // with the life it has left, so it expires.
    void on_unpublished(const NodeId& target);
    // A contact entered the routing table: give it the items it is now among the k nearest of.
    void on_new_contact(const NodeId& id, const Endpoint& ep);
    // A republish ended: `stored` nodes took it; `displaced`: its lookup found k nodes nearer
    // the key than us.
    void republish_done(const NodeId& target, std::size_t stored, bool displaced);
    void hand_off_done(bool stored);

    // ---- time ----
    // Does what is due.
    void run();
    TimePoint next_due() const;

    // ---- introspection ----
    // When the item is next republished (or refreshed, if ours); nothing if it is not (retired).
    std::optional<TimePoint> due(const NodeId& target) const;
    std::size_t republishing() const noexcept { return republishing_; }
    std::size_t handoffs() const noexcept { return handoffs_; }

private:
    void refresh_buckets();
    void recheck();
    void refresh_early();
    TimePoint next_recheck() const;
    TimePoint next_early_refresh() const;
    void republish_due();
    void republish(const NodeId& target);
    TimePoint publisher_due(const StoredItem& item) const;
    Duration jittered_interval();

    const NodeConfig& config_;
    const TimePoint& now_;
    RoutingTable& table_;
    Storage& storage_;
    RandomSource& rng_;
    NodeStats& stats_;
    Actions& actions_;

    DueIndex due_;
    TimePoint next_scan_{};  // due items are looked at no sooner than this
    std::size_t republishing_ = 0;
    std::size_t handoffs_ = 0;
    std::vector<const Contact*> closest_;  // reused
    std::vector<PingRequest> pings_;       // reused
    // Rechecks: when the table next wants one, and the failures it had counted at the last.
    TimePoint recheck_due_ = TimePoint::max();
    TimePoint last_recheck_{};
    std::uint64_t failures_seen_ = 0;
    // Early refreshes: the recoveries already acted on, the next allowed, and the gap after it.
    std::uint64_t recoveries_seen_ = 0;
    TimePoint early_allowed_{};
    Duration early_gap_{};
};

}  // namespace kad
