#pragma once
// The k-bucket routing table (Kademlia §2.4), split where the own ID falls.
//
// Bucket i < last holds contacts whose ID shares exactly i leading bits with ours; the last
// bucket holds everything closer, and splits when it overflows. A contact enters only when it
// has answered one of our queries (on_answered). Hearing of a node (it queried us) may ask the
// caller to ping it, or to ping a bucket's least-recently-seen contact: the table returns these as
// PingRequests and never sends anything itself.
//
// Where we differ from the paper:
// - A full bucket keeps its contacts while they answer; newcomers wait in a replacement cache
//   (the paper's preference for old contacts, with libtorrent's cache).
// - A contact is replaced after `max_failures` consecutive unanswered queries, not one, since a
//   single lost datagram is common; the best cached replacement takes its place. With nothing to
//   replace it, it stays (the paper, §4.1): under heavy loss or a partition the table keeps its
//   contacts rather than emptying. It is left out of find_node answers, asked in lookups only
//   when fewer than k contacts answer, pinged again with backoff (recheck), and removed only
//   after `forget_after` without an answer.
// - A contact whose ID changes for the same endpoint is a new contact; the old one is removed
//   (at most one contact per endpoint).
// - BEP 42: with IdPolicy::Require, a node whose ID does not match its address never enters;
//   with Prefer, it gives its slot in a full bucket to a newcomer whose ID does (or whose address
//   is exempt), and conforming replacements are promoted first.
// - A bucket takes at most a few contacts from one IP address or one /24 (/64), so that one
//   party with many addresses in one network cannot fill it (RoutingConfig::max_per_subnet). A
//   known ID at a new endpoint is ignored while the old endpoint still answers, so a reply cannot
//   move someone else's contact.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kad/bep42.hpp"
#include "kad/endpoint.hpp"
#include "kad/node_id.hpp"
#include "kad/rtt.hpp"
#include "kad/time.hpp"
#include "kad/unreachable.hpp"

namespace kad {

class RandomSource;

// A contact is its own RTT estimate (srtt, rttvar: the soft timeout of queries to it) plus who
// and where it is. 64 bytes, laid out without padding holes: a node holds a few hundred of these,
// a kadswarm process millions (docs/BENCHMARKS.md).
struct Contact : RttEstimator {
    NodeId id;
    Endpoint endpoint;
    std::uint8_t failures = 0;  // consecutive queries it did not answer (at most 255)
    std::uint8_t rechecks = 0;  // pings recheck() asked for since it last answered
    bool verified = false;      // it has answered us (always true in a bucket)
    bool ping_pending = false;  // we asked the caller to ping it and have not heard back
    TimePoint last_seen{};      // last time it answered us
};

// What BEP 42 decides about a contact whose ID does not match its address.
enum class IdPolicy : std::uint8_t {
    Any,      // nothing: it is counted
    Prefer,   // it gives way to conforming newcomers (libtorrent's default, and ours)
    Require,  // it never enters the table (libtorrent's dht_enforce_node_id)
};
const char* to_string(IdPolicy p) noexcept;

struct RoutingConfig {
    std::size_t k = 20;                               // contacts per bucket
    std::size_t replacements = 20;                    // replacement cache per bucket
    int max_failures = 2;                             // consecutive failures: replaceable
    Duration stale_after = std::chrono::minutes(15);  // a full bucket pings an LRS older than this
    // A failing contact is pinged again (recheck) this long after its last answer, then after
    // twice as long again, and so on, the step capped at recheck_max: a partition that heals is
    // noticed within recheck_max, and a dead contact costs a ping per recheck_max.
    Duration recheck_after = std::chrono::minutes(1);
    Duration recheck_max = std::chrono::minutes(5);
    // A failing contact nothing has replaced is removed (recheck) once it has not answered for
    // this long: a partition shorter than this heals by itself.
    Duration forget_after = std::chrono::hours(24);
    // A node whose probe (a ping from our second port) went unanswered is not probed again for
    // this long when it queries us: behind NAT, it would not answer the next one either.
    Duration unreachable_for = std::chrono::minutes(15);
    // Against Sybil and eclipse attempts: within one bucket (its live contacts, and apart from
    // them its replacement cache), at most this many contacts from one IP address and from one
    // /24 (IPv4) or /64 (IPv6). Loopback and private addresses are exempt unless restrict_local.
    std::size_t max_per_ip = 2;
    std::size_t max_per_subnet = 3;
    bool restrict_local = false;
    IdPolicy id_policy = IdPolicy::Prefer;
};

// The live contacts by BEP 42 class (kad::bep42::classify).
struct IdCensus {
    std::size_t conforming = 0, nonconforming = 0, exempt = 0;
};

// Which contacts closest() may return.
struct ContactFilter {
    bool include_failing = false;  // contacts with unanswered queries
    bool v4 = true;
    bool v6 = true;
    std::optional<NodeId> exclude;  // e.g. the node asking
    bool accepts(const Contact& c) const noexcept;
};

struct PingRequest {
    NodeId id;
    Endpoint endpoint;
    // It has never answered us (it queried us, or someone named it): ask from the second port,
    // so that an answer also proves strangers can reach it (see Transport::send_probe).
    bool probe = false;
    friend bool operator==(const PingRequest&, const PingRequest&) = default;
};

class RoutingTable {
public:
    class Bucket {
    public:
        std::span<const Contact> contacts() const { return live_; }
        std::span<const Contact> replacements() const { return cache_; }
        TimePoint last_touched() const { return last_touched_; }

    private:
        friend class RoutingTable;
        std::vector<Contact> live_;
        // heads_[i]: the first 64 bits of live_[i].id. A search of the bucket for an ID, an
        // endpoint the index names, or the nearest to a target reads 8 bytes a contact here
        // instead of a contact's 64-byte cache line.
        std::vector<std::uint64_t> heads_;
        std::vector<Contact> cache_;
        std::vector<std::uint64_t> cache_heads_;  // the same for cache_
        TimePoint last_touched_{};
    };

    RoutingTable(const NodeId& self, RoutingConfig config, TimePoint now);

    const NodeId& self() const noexcept { return self_; }
    const RoutingConfig& config() const noexcept { return config_; }

    // It answered one of our queries: insert it, refresh it, or keep it as a replacement.
    void on_answered(TimePoint now, const NodeId& id, const Endpoint& ep,
                     std::optional<Duration> rtt);
    // We heard of it without an answer from it (it queried us). It may be worth a ping (a probe,
    // PingRequest::probe, while it has never answered us): either to itself (there is room, or a
    // failing contact to replace, or it is a failing contact: an answer clears its failures) or to
    // the bucket's least-recently-seen contact (the bucket is full and that contact is stale).
    std::optional<PingRequest> on_heard_of(TimePoint now, const NodeId& id, const Endpoint& ep);
    // A query to it went unanswered. At max_failures, a verified replacement takes its place; with
    // only unverified ones, a ping to the newest is asked for; with none, it stays.
    std::optional<PingRequest> on_failed(TimePoint now, const NodeId& id, const Endpoint& ep);
    // Failing contacts due for a recheck: a ping to each goes into `out` (and it is marked
    // pending); those silent for forget_after are removed. Returns when that is next due for
    // one of them (TimePoint::max() if none is failing).
    TimePoint recheck(TimePoint now, std::vector<PingRequest>& out);
    // A probe to ep went unanswered: on_heard_of asks for none there for unreachable_for
    // (UnreachableEndpoints remembers the last 64 such endpoints).
    void note_unreachable(TimePoint now, const Endpoint& ep) {
        unreachable_.note(ep, now + config_.unreachable_for);
    }
    // It is gone for good (it said so): remove it, promoting a verified replacement.
    bool remove(const NodeId& id, const Endpoint& ep);
    // A ping we were asked for could not be sent, or was abandoned: clear its pending mark.
    void on_ping_abandoned(const NodeId& id);
    // Our ID changed (BEP 42): the buckets are rebuilt around it from the contacts and
    // replacements we had, and all of them are due for a refresh.
    void rekey(const NodeId& self, TimePoint now);

    // Up to n live contacts nearest to target, nearest first. Contacts that are failing (at
    // least one unanswered query) are left out unless include_failing.
    void closest(const NodeId& target, std::size_t n, std::vector<const Contact*>& out,
                 bool include_failing = false) const;
    std::vector<const Contact*> closest(const NodeId& target, std::size_t n,
                                        bool include_failing = false) const;
    void closest(const NodeId& target, std::size_t n, const ContactFilter& filter,
                 std::vector<const Contact*>& out) const;

    // True if no contact but `except` is nearer to target than we are (contacts past
    // max_failures are presumed gone). Looks at one bucket: a contact nearer than us to target
    // shares exactly cpl(us, target) bits with us.
    bool self_is_nearest(const NodeId& target, const NodeId& except) const;
    // How many contacts are nearer to target than we are (the same single bucket).
    std::size_t count_nearer_than_self(const NodeId& target) const;

    const Contact* find(const NodeId& id) const;
    const Contact* find(const Endpoint& ep) const;
    bool contains(const NodeId& id) const { return find(id) != nullptr; }

    // Buckets not touched (a contact answering, or a lookup in their range) for `interval`.
    std::vector<std::size_t> buckets_due(TimePoint now, Duration interval) const;
    TimePoint next_refresh(Duration interval) const;
    // Record a lookup of `target`: its bucket counts as refreshed.
    void touch(const NodeId& target, TimePoint now);
    // A random ID that falls in bucket i.
    NodeId random_id_in_bucket(std::size_t i, RandomSource& rng) const;
    std::size_t bucket_index(const NodeId& id) const;

    std::size_t size() const noexcept { return size_; }
    // Failures counted so far (on_failed), and contacts that answered again after failing
    // max_failures times and a recheck_after of silence: a sign that a partition has healed.
    std::uint64_t failures_counted() const noexcept { return failures_counted_; }
    std::uint64_t recoveries() const noexcept { return recoveries_; }
    // Contacts turned away (from the bucket or its cache) by max_per_ip / max_per_subnet.
    std::uint64_t address_limited() const noexcept { return address_limited_; }
    // Replacement-cache entries dropped (or newcomers not cached) because the cache was full.
    std::uint64_t replacements_dropped() const noexcept { return replacements_dropped_; }
    std::size_t bucket_count() const noexcept { return buckets_.size(); }
    const Bucket& bucket(std::size_t i) const { return buckets_[i]; }
    // Every live contact, in bucket order.
    std::vector<const Contact*> all() const;
    IdCensus id_census() const;
    // BEP 42: answers and queries from nonconforming IDs turned away (Require), and
    // nonconforming contacts that gave their slot to a conforming newcomer (Prefer).
    std::uint64_t ids_refused() const noexcept { return ids_refused_; }
    std::uint64_t ids_displaced() const noexcept { return ids_displaced_; }
    // Queriers not probed: their last probe went unanswered (note_unreachable).
    std::uint64_t probes_skipped() const noexcept { return probes_skipped_; }

private:
    // Where the contact with this ID is in b.live_; b.live_.size() if it is not there.
    static std::size_t live_index(const Bucket& b, const NodeId& id);
    Contact* find_live(Bucket& b, const NodeId& id);
    bool can_split(std::size_t index) const;
    void split_last();
    static Contact* find_cached(Bucket& b, const NodeId& id);
    // A full bucket's least-recently-seen contact, if it is stale and not being pinged already.
    std::optional<PingRequest> ping_stale(TimePoint now, Bucket& b) const;
    // on_answered's steps.
    void release_endpoint(const Endpoint& ep, const NodeId& id);
    void refresh(TimePoint now, Contact& c, const Endpoint& ep, std::optional<Duration> rtt);
    Contact newcomer(TimePoint now, const NodeId& id, const Endpoint& ep,
                     std::optional<Duration> rtt);
    void place(TimePoint now, const Contact& fresh);
    // The live contact with the most failures (the longest unseen among equals); size() if none.
    static std::size_t most_failing(const Bucket& b);
    // With IdPolicy::Prefer, the nonconforming live contact seen longest ago; size() if none.
    std::size_t displaceable(const Bucket& b) const;
    bool refuses(const NodeId& id, const Endpoint& ep) const;
    // Whether replacement a is promoted before b: conforming first (Prefer), then the freshest.
    bool better_replacement(const Contact& a, const Contact& b) const;
    void insert_live(Bucket& b, Contact c);
    void remove_live(Bucket& b, std::size_t pos);
    void add_replacement(Bucket& b, const Contact& c);
    static void erase_cached(Bucket& b, std::size_t pos);
    // Whether a contact at ep may join `list` under the per-address limits (counted if not).
    bool fits(const std::vector<Contact>& list, const Endpoint& ep) const;
    // Moves the best verified replacement into the bucket. With none, and may_ping, asks for a
    // ping to the newest unverified one.
    // `taken`: an endpoint a live contact is about to hold; no replacement there is promoted.
    std::optional<PingRequest> promote_replacement(Bucket& b, bool may_ping,
                                                   const Endpoint* taken = nullptr);
    bool promote_verified(Bucket& b, const Endpoint* taken);
    std::optional<PingRequest> ping_replacement(Bucket& b);
    // When a failing contact is next due for a recheck.
    TimePoint recheck_due(const Contact& c) const;

    NodeId self_;
    RoutingConfig config_;
    // Live contacts by endpoint, in 16 bytes an entry (a hash map node would cost 80): the hash
    // of the endpoint, sorted, and the first 8 bytes of the contact's ID, which name its bucket.
    // The bucket is then searched for the endpoint itself, so a hash shared by two endpoints
    // costs a second search, never a wrong answer.
    class EndpointIndex {
    public:
        struct Entry {
            std::uint64_t hash;
            std::uint64_t head;  // the ID's first 64 bits
            auto operator<=>(const Entry&) const = default;
        };
        // The entries whose endpoint may be `ep`.
        std::span<const Entry> candidates(const Endpoint& ep) const;
        void add(const Endpoint& ep, const NodeId& id);
        void erase(const Endpoint& ep, const NodeId& id);
        static std::uint64_t head(const NodeId& id) noexcept;

    private:
        std::vector<Entry> entries_;
    };

    // Sets a bucket's last_touched_, keeping oldest_touch_ true.
    void touch_bucket(Bucket& b, TimePoint t);

    std::vector<Bucket> buckets_;
    // The least last_touched_ of the buckets, when oldest_known_: next_refresh() is asked after
    // every event a node handles, and a scan of the buckets read one cache line a bucket.
    mutable TimePoint oldest_touch_{};
    mutable bool oldest_known_ = false;
    EndpointIndex by_endpoint_;
    std::size_t size_ = 0;
    mutable std::uint64_t address_limited_ = 0;
    std::uint64_t replacements_dropped_ = 0;
    std::uint64_t ids_refused_ = 0;
    std::uint64_t ids_displaced_ = 0;
    std::uint64_t failures_counted_ = 0;
    std::uint64_t recoveries_ = 0;
    std::uint64_t probes_skipped_ = 0;
    UnreachableEndpoints unreachable_;
};

}  // namespace kad
