#pragma once
// Per-source rate limiting of incoming datagrams: a token bucket per source, a global budget for
// all sources together, and a time-out for a source that keeps sending past its bucket.
//
// A source is what kad::source_key() says: an IPv4 address, an IPv6 /64, or on loopback the
// address and port, so that nodes sharing 127.0.0.1 (a local swarm, a test) are told apart.
// Loopback and private ranges get a separate, generous rate so that local swarms and LANs are never
// throttled.
//
// The node charges what costs it work for someone else: queries, malformed datagrams and replies
// that match none of its transactions. Replies to its own queries are free: the node bounds those
// itself (NodeConfig::max_transactions). Time is passed in; nothing here reads a clock.

#include <cstdint>
#include <unordered_map>

#include "kad/endpoint.hpp"
#include "kad/time.hpp"

namespace kad {

struct RateLimitConfig {
    bool enabled = true;
    // Public addresses: datagrams per second per source, and the burst a source may send at once.
    double rate = 20;
    double burst = 100;
    // Loopback (per address and port) and private ranges (per address).
    double local_rate = 5'000;
    double local_burst = 20'000;
    // All sources together. When it is spent, only contacts in our routing table are answered.
    double global_rate = 20'000;
    double global_burst = 40'000;
    // A source whose dropped datagrams exceed one burst (the debt decays at its rate) is ignored
    // for this long: its datagrams are dropped before they are even decoded.
    Duration ignore_for = std::chrono::minutes(1);
    // Sources tracked at once. Past it, idle sources are forgotten; if none is idle, a new source
    // is judged by the global budget alone.
    std::size_t max_sources = 16'384;
};

struct RateLimitStats {
    std::uint64_t dropped_source = 0;   // past the source's bucket
    std::uint64_t dropped_global = 0;   // past the global budget
    std::uint64_t dropped_ignored = 0;  // from a source being ignored
    std::uint64_t sources_ignored = 0;  // times a source was put on ignore
    std::uint64_t sources_full = 0;     // a new source not tracked: the table was full
};

class RateLimiter {
public:
    enum class Verdict : std::uint8_t { Allow, DropSource, DropGlobal, DropIgnored };

    explicit RateLimiter(RateLimitConfig config = {}) : config_(config) {}

    const RateLimitConfig& config() const noexcept { return config_; }
    const RateLimitStats& stats() const noexcept { return stats_; }
    std::size_t sources() const noexcept { return sources_.size() + ignored_.size(); }

    // The cheap check made before decoding: false if the source is being ignored (counted).
    bool ignored(TimePoint now, const Endpoint& from);
    // Charges one datagram to the source and the global budget. `trusted`: a contact in our
    // routing table, exempt from the global budget (never from its own bucket).
    Verdict charge(TimePoint now, const Endpoint& from, bool trusted);

private:
    struct Bucket {  // 24 bytes: a table entry is one 64-byte allocation
        double tokens = 0;
        double debt = 0;  // dropped datagrams, decaying at the source's rate
        TimePoint updated{};
    };
    void refill(Bucket& b, TimePoint now, double rate, double burst) const;
    Bucket* bucket_for(TimePoint now, const Endpoint& key, bool local);
    void sweep(TimePoint now);

    RateLimitConfig config_;
    RateLimitStats stats_;
    std::unordered_map<Endpoint, Bucket> sources_;
    std::unordered_map<Endpoint, TimePoint> ignored_;  // source -> until when; few, and counted
                                                       // in max_sources
    Bucket global_;
    bool global_started_ = false;
    TimePoint last_sweep_{};
};

}  // namespace kad
