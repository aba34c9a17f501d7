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
#include <vector>

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

    // `seed` keys the hash of the source table, so that nobody can choose addresses that pile up
    // in one run of it; the node draws it from its random source.
    explicit RateLimiter(RateLimitConfig config = {}, std::uint64_t seed = 0);

    const RateLimitConfig& config() const noexcept { return config_; }
    const RateLimitStats& stats() const noexcept { return stats_; }
    // Sources held: those with a bucket not yet full again (and, until the next sweep, some that
    // are) and those being ignored.
    std::size_t sources() const noexcept { return used_ + ignored_.size(); }

    // The cheap check made before decoding: false if the source is being ignored (counted).
    bool ignored(TimePoint now, const Endpoint& from);
    // Charges one datagram to the source and the global budget. `trusted`: a contact in our
    // routing table, exempt from the global budget (never from its own bucket).
    Verdict charge(TimePoint now, const Endpoint& from, bool trusted);

private:
    // A token bucket kept as the time it will be full again (the "theoretical arrival time" of
    // GCRA): it holds burst - (full_at - now) * rate tokens, and a datagram moves full_at one
    // interval (1 / rate) later. A source whose full_at (and debt_until) has passed is the same as
    // one never seen, so its slot can be given to another source at once, not at the next sweep.
    struct Pace {
        Duration interval{};   // 1 / rate
        Duration tolerance{};  // (burst - 1) / rate: how far full_at may run ahead of now
        Duration ignore_at{};  // burst / rate: debt past this puts the source on ignore
    };
    struct Slot {  // 40 bytes, in an open-addressed table (linear probing)
        Endpoint key;
        TimePoint full_at = kEmpty;  // kEmpty: a free slot, which ends a probe
        TimePoint debt_until{};      // dropped datagrams, each one interval, paid off over time
        bool idle(TimePoint now) const noexcept { return full_at <= now && debt_until <= now; }
    };
    static constexpr TimePoint kEmpty = TimePoint::min();

    Slot* slot_for(TimePoint now, const Endpoint& key);
    void erase(Slot& slot);
    void rebuild(TimePoint now, std::size_t extra);
    std::size_t capacity_for(std::size_t sources) const noexcept;
    std::size_t home(const Endpoint& key) const noexcept;
    void sweep(TimePoint now);

    RateLimitConfig config_;
    Pace public_, local_, global_pace_;
    std::uint64_t seed_;
    RateLimitStats stats_;
    std::vector<Slot> slots_;                          // a power of two, or empty
    std::size_t used_ = 0;                             // slots not free (some may be idle)
    std::unordered_map<Endpoint, TimePoint> ignored_;  // source -> until when; few, and counted
                                                       // in max_sources
    TimePoint global_full_at_ = TimePoint::min();
    TimePoint last_sweep_{};
};

}  // namespace kad
