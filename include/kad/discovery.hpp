#pragma once
// LAN discovery, sans-I/O: nodes on one LAN find each other with no configuration.
//
// A node multicasts a solicitation when it starts and announcements (its ID, RPC port, network
// name) with jitter; it answers a solicitation after a short random delay unless enough others
// have already answered. Announcements slow down as the LAN grows so that the whole LAN carries
// about `max_rate` of them a second. An announcer enters the view (and, through the ping, the
// node's routing table) only after it answers a ping at the announcement's source address and
// advertised port. A peer silent for 3 of its announcement intervals, and not otherwise heard
// from, leaves the view; a node that stops cleanly multicasts that it is leaving.
//
// Messages (bencoded dictionaries) and their signatures are described in docs/PROTOCOL.md.
// Time comes in as a value; datagrams leave through a MulticastTransport; pings go through the
// Node; randomness comes from the injected source.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kad/bencode.hpp"
#include "kad/endpoint.hpp"
#include "kad/log.hpp"
#include "kad/node.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/time.hpp"

namespace kad {

// Sends one datagram to the discovery group(s), on every interface discovery uses.
class MulticastTransport {
public:
    virtual ~MulticastTransport() = default;
    virtual void multicast(std::string_view datagram) = 0;
};

struct DiscoveryConfig {
    std::string network = "kad";                  // other networks' messages are ignored
    Duration interval = std::chrono::seconds(5);  // announcement interval on a small LAN
    double max_rate = 10.0;  // announcements per second the whole LAN should carry
    // HMAC-SHA256 key. With a key, unsigned and wrongly signed messages are ignored; without
    // one, signed messages are: a keyed network and an open one do not mix.
    std::string key;
    std::size_t max_peers = 1024;                           // view entries and candidates together
    std::size_t max_pending_pings = 16;                     // more candidates wait their turn
    Duration reply_delay = std::chrono::milliseconds(300);  // answers to a solicitation wait
    std::size_t reply_suppress = 8;  // ...and are skipped once this many others answered
    Duration retry_after = std::chrono::seconds(2);  // a candidate that failed is not re-pinged
    std::string version = std::string("KN\x00\x01", 4);
};

struct LanPeer {
    NodeId id;
    Endpoint endpoint;  // source address of its announcement, advertised RPC port
    TimePoint first_seen{};
    TimePoint last_seen{};
    std::optional<Duration> rtt;
    Duration lifetime{};  // silence after which it leaves: 3 x its announcement interval
};

struct DiscoveryStats {
    std::uint64_t received = 0, sent = 0;
    std::uint64_t announcements_in = 0, solicitations_in = 0, leaves_in = 0;
    std::uint64_t announcements_out = 0, solicitations_out = 0, leaves_out = 0;
    std::uint64_t replies_suppressed = 0;
    std::uint64_t malformed = 0;  // undecodable, oversized, or missing keys
    std::uint64_t other_network = 0;
    std::uint64_t unsigned_dropped = 0;  // no signature while a key is configured
    std::uint64_t bad_signature = 0;
    std::uint64_t keyed_dropped = 0;  // signed, while we have no key
    std::uint64_t own = 0;            // our own messages (multicast loop)
    std::uint64_t pings = 0, pings_failed = 0;
    std::uint64_t pings_skipped = 0;  // the ping budget or the table was full
    std::uint64_t peers_joined = 0, peers_left = 0;
};

class Discovery {
public:
    static constexpr std::size_t kMaxDatagram = 512;

    enum class Change : std::uint8_t { Joined, Left, Expired };
    using Observer = std::function<void(Change, const LanPeer&)>;

    // Solicits and announces from the first handle_timeout(now) on.
    Discovery(DiscoveryConfig config, Node& node, std::uint16_t rpc_port,
              MulticastTransport& transport, RandomSource& rng, TimePoint now);
    ~Discovery();
    Discovery(const Discovery&) = delete;
    Discovery& operator=(const Discovery&) = delete;

    void handle_datagram(TimePoint now, const Endpoint& from, std::string_view datagram);
    void handle_timeout(TimePoint now);
    TimePoint next_timeout() const;
    // The node heard from this peer some other way (a query or reply): it is alive.
    void heard_from(TimePoint now, const NodeId& id);
    // Multicasts that we are leaving (on a clean stop).
    void leave(TimePoint now);

    void set_observer(Observer o) { observer_ = std::move(o); }
    void set_logger(Logger logger) { log_ = std::move(logger); }

    // The peers in the view (verified), by ID.
    std::vector<LanPeer> peers() const;
    std::size_t size() const noexcept { return view_.size(); }
    // A short SHA-256 (16 hex digits) of the sorted IDs of the view and ourselves: the same on
    // every node once their views agree.
    std::string fingerprint() const;
    const DiscoveryStats& stats() const noexcept { return stats_; }
    const DiscoveryConfig& config() const noexcept { return config_; }
    // The interval we announce at now, given the LAN's size.
    Duration current_interval() const;

    // Encoding, exposed for tests and tools.
    enum class Kind : char { Announce = 'a', Solicit = 's', Leave = 'l' };
    struct Message {
        Kind kind = Kind::Announce;
        NodeId id;
        std::string network;
        std::uint16_t port = 0;
        std::int64_t interval_ms = 0;
        std::string version;
        bool signed_ = false;
    };
    static std::string encode(const Message& m, std::string_view key);
    // Why a datagram was refused: a value to branch on, and words for the log.
    struct DecodeError {
        enum class Kind : std::uint8_t {
            Malformed,     // not a discovery message: too large, bad bencode, missing keys
            Unsigned,      // we have a key, the message has no signature
            BadSignature,  // signed with another key, or altered
        };
        Kind kind = Kind::Malformed;
        std::string detail;  // what was malformed
        // "malformed: <detail>", "unsigned", "bad signature"
        std::string message() const;
    };
    // Decodes and checks the signature when `key` is set.
    static Expected<Message, DecodeError> decode(std::string_view datagram, std::string_view key);

private:
    struct Candidate {
        enum class State : std::uint8_t { Queued, Pinging, Failed };
        Endpoint endpoint;
        State state = State::Queued;
        TimePoint failed_at{};
        Duration lifetime{};
    };

    void announce(Kind kind);
    void on_announcement(const Endpoint& from, const Message& m);
    void ping_candidate(const NodeId& id);
    void on_ping_result(const NodeId& id, const PingResult& r);
    void pump_pings();
    void expire();
    void drop(const NodeId& id, Change why);
    Duration lifetime_of(std::int64_t interval_ms) const;

    DiscoveryConfig config_;
    Node& node_;
    std::uint16_t port_;
    MulticastTransport& transport_;
    RandomSource& rng_;
    TimePoint now_;
    std::map<NodeId, LanPeer> view_;  // sorted: the fingerprint walks it in order
    std::unordered_map<NodeId, Candidate> candidates_;
    std::deque<NodeId> queue_;  // candidates waiting for a ping slot, oldest first
    std::size_t pending_pings_ = 0;
    TimePoint next_announce_{};
    TimePoint next_check_ = TimePoint::max();  // the earliest expiry (possibly early)
    std::optional<TimePoint> reply_at_;        // a solicitation to answer
    std::size_t answers_seen_ = 0;             // announcements since that solicitation
    bool solicited_ = false;
    bool left_ = false;
    DiscoveryStats stats_;
    Observer observer_;
    Logger log_;
    std::shared_ptr<bool> alive_;  // ping callbacks check it: the node may outlive us
};

}  // namespace kad
