#pragma once
// The watchers listening here (kadnode's listen query, docs/PROTOCOL.md): for each, the value it
// watches and until when. When a newer version of that value is stored here, the node tells each
// of them (notify), so a watch learns of it within a round trip of the store rather than at its
// next get.
//
// Bounded: at most `max` listeners in all and `per_source` from one source (kad::source_key: an
// IPv4 address, an IPv6 /64), so a flood of listens costs a fixed amount of memory and of
// notifies per store. A listener is known by its value and its endpoint: a listen from the same
// endpoint for the same value renews it. It lapses at the end of its ttl, or when its watcher
// answers a notify with an error (it no longer watches) or not at all (it is gone). Each notify
// carries the tag its listen gave, which a forger who did not see the listen cannot know.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

struct ListenerConfig {
    std::size_t max = 512;
    std::size_t per_source = 16;
    Duration default_ttl = std::chrono::minutes(2);  // a listen without "ttl"
    Duration max_ttl = std::chrono::minutes(10);     // a longer "ttl" is cut to this
    // Notifies unanswered at once (each holds a transaction until answered or 2 s): past
    // this, a new version is not told (the watchers' rounds find it), so that listeners can
    // never take the transaction table from the node's own queries.
    std::size_t max_in_flight = 64;
};

class Listeners {
public:
    explicit Listeners(ListenerConfig config) : config_(config) {}

    struct Listen {
        krpc::NodeInfo who;
        std::string tag;                    // echoed in each notify
        std::optional<Duration> ttl;        // nothing: default_ttl; cut to max_ttl
        std::optional<std::int64_t> known;  // the newest version the watcher knows of
    };
    enum class Added : std::uint8_t { New, Renewed, Full, SourceFull };
    Added add(const NodeId& target, const Listen& listen, TimePoint now);
    // Version `seq` of `target` was stored here: the listeners to tell of it (with their tags),
    // those whose ttl has not run out and who were not told of it (or a newer one) yet, now
    // counted as told. Not `writer`, who knows.
    struct Told {
        krpc::NodeInfo who;
        std::string tag;
    };
    std::vector<Told> take_newer(const NodeId& target, std::int64_t seq, const Endpoint& writer,
                                 TimePoint now);
    // The listeners of `target` whose ttl has not run out.
    std::vector<krpc::NodeInfo> of(const NodeId& target, TimePoint now) const;
    // A watcher no longer watches (it refused a notify): false if it was not listening.
    bool remove(const NodeId& target, const Endpoint& who);
    void expire(TimePoint now);
    TimePoint next_expiry() const noexcept { return next_expiry_; }

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return config_.max; }
    const ListenerConfig& config() const noexcept { return config_; }

private:
    struct Listener {
        krpc::NodeInfo who;
        std::string tag;
        TimePoint expires;
        std::optional<std::int64_t> told;  // the newest version it knows of
    };
    std::size_t from_source(const Endpoint& source) const;

    ListenerConfig config_;
    std::map<NodeId, std::vector<Listener>> by_target_;
    std::size_t size_ = 0;
    TimePoint next_expiry_ = TimePoint::max();
};

}  // namespace kad
