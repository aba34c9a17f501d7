#pragma once
// How a node is configured (NodeConfig: every bound and interval, with its default) and what it
// counts (NodeStats). A NodeConfig is checked when a Node is made: config_error() says what is
// wrong with one, and the Node constructor throws std::invalid_argument with that text.

#include <array>
#include <cstdint>
#include <string>

#include "kad/bep42.hpp"
#include "kad/krpc.hpp"
#include "kad/listeners.hpp"
#include "kad/peer_store.hpp"
#include "kad/rate_limit.hpp"
#include "kad/routing_table.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"

namespace kad {

struct NodeConfig {
    std::size_t k = 20;     // bucket size, replication factor, lookup width
    std::size_t alpha = 3;  // queries in flight per lookup
    Duration rpc_timeout = std::chrono::seconds(2);  // hard timeout: the query failed
    // Soft timeout: smoothed RTT + 4 x variation (RFC 6298) of the contact or, for a node we have
    // no samples for, this quantile of the last 128 replies' round trips and a quarter
    // (kad::RttWindow);
    // clamped to [min, max], and never past the hard one.
    double soft_timeout_quantile = 0.9;
    Duration soft_timeout_min = std::chrono::milliseconds(20);
    Duration soft_timeout_max = std::chrono::seconds(1);
    Duration soft_timeout_initial = std::chrono::milliseconds(500);  // before any RTT sample
    int lookup_attempts = 4;  // queries to one candidate among the k nearest (see lookup.hpp)
    // Patience: a converged lookup waits for a silent candidate among this many nearest in play
    // until its first query's hard timeout, while no more than lookup_wait_max_silent of the k
    // nearest are silent, on a node that has seen a slow tail of round trips (LookupParams::
    // wait_nearest, Rpc::slow_tail; 0: never).
    std::size_t lookup_wait_nearest = 20;
    std::size_t lookup_wait_max_silent = 2;
    Duration bucket_refresh = std::chrono::hours(1);
    // After a failing contact answers again (a partition healed), sparse buckets are refreshed
    // at once; if that keeps happening, no sooner than this after the last time, doubling up to
    // bucket_refresh (Maintenance).
    Duration recovery_refresh = std::chrono::minutes(1);
    // A holder republishes an item nobody has stored to it for this long (Kademlia: an hour).
    Duration republish_interval = std::chrono::hours(1);
    // Items are republished when due, but the node looks for due items at most this often.
    Duration republish_check = std::chrono::seconds(1);
    double publisher_refresh = 0.75;   // the publisher re-puts after this share of the TTL
    std::size_t max_republishes = 16;  // republish operations at once
    bool handoff = true;               // give items to a new contact that is among their k nearest
    std::size_t max_handoffs = 64;     // hand-off store requests at once
    Duration token_rotation = std::chrono::minutes(5);
    std::size_t max_transactions = 4096;
    std::size_t max_lookups = 512;
    // Keys watched (Node::watch), and how often each is looked up for a new version. Each round
    // also asks the listen_nodes nearest holders (at most the k it finds) to tell us of the next
    // version (listen), for three rounds' time; watchers listening here are bounded by
    // `listeners`.
    std::size_t max_watches = 64;
    Duration watch_interval = std::chrono::seconds(30);
    std::size_t listen_nodes = 8;
    ListenerConfig listeners{};
    std::size_t max_maintenance_pings = 64;  // pings the routing table asked for, in flight
    std::size_t lookup_candidates = 200;     // candidates one lookup keeps
    std::size_t seen_seq_entries = 4096;     // highest seq remembered per key, for get
    std::size_t max_error_message = 64;      // bytes of reason in a 203 reply
    // A find_value reply with an item keeps within this many bytes: a 1,500-byte MTU less the
    // IPv6 and UDP headers.
    std::size_t max_reply = 1452;
    std::size_t max_peers_reply = 100;  // peers in one get_peers answer ("values"), at most
    // BEP 51: info-hashes in one sample_infohashes answer, and how long one sample is given out
    // (BEP 51 allows at most 6 hours; libtorrent's defaults are these).
    std::size_t max_samples = 20;
    // BEP 43: a read-only node says so ("ro": 1) in its queries and answers none: others keep it
    // out of their routing tables. For a node behind a NAT or on a metered link.
    bool read_only = false;
    Duration sample_interval = std::chrono::hours(6);
    // BEP 42: the external address is the one responders agree on (bep42::AddressVoter). With
    // derive_id, once it is agreed and public, an ID that does not match it is replaced by one
    // that does (the routing table is rebuilt around it). For a node whose ID nobody chose.
    bep42::VoterConfig address_votes{};
    bool derive_id = false;
    RoutingConfig routing{};  // routing.k is set from k
    StorageConfig storage{};
    // BEP 44 items are kept apart from kadnode's, with the same limits (storage), for this long
    // after their last put: BEP 44 lets them expire after two hours, and publishers re-put hourly.
    Duration item_ttl = std::chrono::hours(2);
    PeerStoreConfig peers{};
    RateLimitConfig rate_limit{};
    krpc::Limits limits{};
    // "v": client KN, version 0.1. Empty: no "v" is sent, and a node's missing "v" no longer
    // marks it as another implementation (docs/PROTOCOL.md, "Mixed networks").
    std::string version = std::string("KN\x00\x01", 4);
};

struct NodeStats {
    std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;
    std::array<std::uint64_t, krpc::kMethods> queries_in{};   // indexed by krpc::Method
    std::array<std::uint64_t, krpc::kMethods> queries_out{};  // indexed by krpc::Method
    std::uint64_t responses_in = 0, errors_in = 0, responses_out = 0, errors_out = 0;
    std::uint64_t malformed_dropped = 0;  // undecodable datagrams, never answered
    std::uint64_t bad_queries = 0;        // answered 203
    std::uint64_t unknown_methods = 0;    // answered 204
    std::uint64_t unusable_source = 0;    // from port 0, multicast, broadcast, unspecified
    std::uint64_t unmatched_replies = 0;  // unknown transaction ID
    std::uint64_t wrong_endpoint = 0;     // right transaction ID, wrong sender
    std::uint64_t wrong_id = 0;           // right sender, another node ID
    std::uint64_t bad_responses = 0;      // a response missing what its method needs
    std::uint64_t soft_timeouts = 0, hard_timeouts = 0;
    std::uint64_t late_answers = 0;  // answers to queries past their soft timeout (not probes)
    std::uint64_t stores_accepted = 0, stores_refused = 0;
    std::uint64_t announces_accepted = 0, announces_refused = 0;  // BEP 5 announce_peer
    std::uint64_t announces_dropped = 0;  // accepted, but the peer store had to drop another
    std::uint64_t puts_accepted = 0, puts_refused = 0;  // BEP 44 put
    std::uint64_t samples_sent = 0;                     // BEP 51 sample_infohashes answers
    std::uint64_t read_only_queries = 0;   // BEP 43: answered, the asker kept out of the table
    std::uint64_t queries_ignored = 0;     // BEP 43: we are read-only, queries go unanswered
    std::uint64_t id_changes = 0;          // BEP 42: our ID replaced by one matching our address
    std::uint64_t stores_full = 0;         // refused: the store is full (items or bytes)
    std::uint64_t stores_over_quota = 0;   // refused: the source holds its share
    std::uint64_t stores_over_budget = 0;  // refused: its answer would exceed max_reply
    std::uint64_t transactions_full = 0;   // queries not sent: too many outstanding
    std::uint64_t lookups_refused = 0;     // too many lookups running
    std::uint64_t maintenance_pings = 0, maintenance_pings_skipped = 0;
    std::uint64_t lookups_started = 0, lookups_done = 0;
    std::uint64_t lookup_candidates_dropped = 0;  // past lookup_candidates
    std::uint64_t seen_seq_evicted = 0;           // past seen_seq_entries
    std::uint64_t republishes_deferred = 0;       // due, but max_republishes were running
    std::array<std::uint64_t, 16> lookup_hops{};  // completed lookups by hops (15 = 15 or more)
    std::uint64_t values_cached = 0;
    std::uint64_t bad_items = 0;    // find_value answers with an item for another key, or too big
    std::uint64_t republished = 0;  // items a holder republished
    std::uint64_t refreshed_originals = 0;  // items the publisher (we) refreshed
    std::uint64_t items_refreshed = 0;      // BEP 44 items we put, put again and stored
    std::uint64_t items_superseded = 0;     // ... no longer: a newer version was found
    std::uint64_t values_superseded = 0;    // values we published, replaced here by another's
    std::uint64_t republish_stores = 0;     // stores those republishes made
    std::uint64_t republish_retired = 0;    // items we stopped republishing: no longer near
    std::uint64_t handoffs = 0, handoff_stores = 0, handoffs_skipped = 0;
    std::uint64_t bucket_refreshes = 0;
    std::uint64_t early_refreshes = 0;  // refresh rounds started by a recovered contact
    std::uint64_t rechecks = 0;         // pings to failing contacts (RoutingTable::recheck)
    // Verification pings sent from the second port (Transport::send_probe), and those unanswered:
    // mostly nodes behind NAT, which thus stay out of the routing table.
    std::uint64_t reach_probes = 0, reach_probes_unanswered = 0;
    std::uint64_t probe_port_queries = 0;  // queries to the second port, dropped unanswered
    // Watches (Node::watch) and the watchers listening here (listen, notify).
    std::uint64_t watch_rounds = 0;         // a watch's lookup and listens
    std::uint64_t listens_sent = 0;         // listen queries a watch round sent out
    std::uint64_t listens_held = 0;         // ... that a holder accepted
    std::uint64_t listens_accepted = 0;     // listens from watchers, taken or renewed here
    std::uint64_t listens_refused = 0;      // ... refused (bad token, too many listeners)
    std::uint64_t notifies_sent = 0;        // a newer version stored here, told to a listener
    std::uint64_t notifies_refused = 0;     // ... which no longer watched (it is dropped)
    std::uint64_t notifies_unanswered = 0;  // ... nor this one (it is dropped too)
    std::uint64_t notifies_skipped = 0;     // not sent: max_in_flight were unanswered
    std::uint64_t notifies_received = 0;    // a holder told us of a newer version
    std::uint64_t notifies_rejected = 0;    // ... of a key not watched, or from a non-holder
};

// What is wrong with a configuration, in a sentence ("k must be at least 1"); empty if nothing.
// routing.k is not checked: the node sets it from k.
std::string config_error(const NodeConfig& c);

}  // namespace kad
