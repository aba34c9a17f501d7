#include "kad/node_config.hpp"

#include <cmath>
#include <string>

#include "kad/lookup.hpp"

namespace kad {

namespace {

std::string voter_error(const bep42::VoterConfig& v) {
    if (v.min_votes < 1 || v.max_votes_per_candidate < v.min_votes) {
        return "address_votes: min_votes must be at least 1 and at most max_votes_per_candidate";
    }
    if (v.max_candidates < 2 || v.window <= Duration::zero()) {
        return "address_votes: max_candidates must be at least 2 and the window positive";
    }
    return {};
}

// How data lasts: republishing, the publisher's refresh, watches.
std::string data_error(const NodeConfig& c) {
    const auto positive = [](Duration d) { return d > Duration::zero(); };
    if (!positive(c.republish_interval)) return "republish_interval must be positive";
    if (!positive(c.republish_check)) return "republish_check must be positive";
    // Below 1: at 1 the refresh would be due when the publisher's own copy expires, and gone.
    if (!(c.publisher_refresh > 0.0 && c.publisher_refresh < 1.0)) {
        return "publisher_refresh must be in (0, 1)";
    }
    if (!positive(c.watch_interval)) return "watch_interval must be positive";
    if (c.listeners.per_source > c.listeners.max) {
        return "listeners.per_source must be at most listeners.max";
    }
    if (!positive(c.listeners.default_ttl) || c.listeners.max_ttl < c.listeners.default_ttl) {
        return "listeners.default_ttl must be positive and at most listeners.max_ttl";
    }
    return {};
}

// The limits of what the BitTorrent DHT's BEPs add: swarms, items, samples, our address.
std::string bittorrent_error(const NodeConfig& c) {
    const auto positive = [](Duration d) { return d > Duration::zero(); };
    if (c.peers.max_swarms == 0) return "peers.max_swarms must be at least 1";
    if (c.peers.max_peers == 0) return "peers.max_peers must be at least 1";
    if (!positive(c.peers.peer_ttl)) return "peers.peer_ttl must be positive";
    if (!positive(c.item_ttl)) return "item_ttl must be positive";
    if (c.max_samples == 0 || c.max_samples > 60) return "max_samples must be from 1 to 60";
    if (!positive(c.sample_interval) || c.sample_interval > std::chrono::hours(6)) {
        return "sample_interval must be positive and at most 6 hours";
    }
    return voter_error(c.address_votes);
}

std::string rate_limit_error(const RateLimitConfig& r) {
    // Finite and positive: a bucket's interval is 1 / rate, and a burst of under one datagram
    // would let nothing through.
    const auto ok = [](double rate, double burst) {
        return std::isfinite(rate) && rate > 0 && std::isfinite(burst) && burst >= 1;
    };
    if (!r.enabled) return {};
    if (!ok(r.rate, r.burst) || !ok(r.local_rate, r.local_burst) ||
        !ok(r.global_rate, r.global_burst)) {
        return "rate_limit: each rate must be positive and each burst at least 1 (both finite)";
    }
    return {};
}

}  // namespace

std::string config_error(const NodeConfig& c) {
    const auto positive = [](Duration d) { return d > Duration::zero(); };
    if (c.k == 0) return "k must be at least 1";
    if (c.alpha == 0) return "alpha must be at least 1";
    if (c.storage.max_seq_step < 1) return "storage.max_seq_step must be at least 1";
    if (c.storage.max_new_seq < 0) return "storage.max_new_seq must not be negative";
    if (!positive(c.rpc_timeout)) return "rpc_timeout must be positive";
    if (!positive(c.soft_timeout_min)) return "soft_timeout_min must be positive";
    if (c.soft_timeout_min > c.soft_timeout_max) {
        return "soft_timeout_min must not exceed soft_timeout_max";
    }
    if (!positive(c.soft_timeout_initial)) return "soft_timeout_initial must be positive";
    if (!(c.soft_timeout_quantile > 0 && c.soft_timeout_quantile <= 1)) {
        return "soft_timeout_quantile must be in (0, 1]";
    }
    if (c.lookup_attempts < 1 || c.lookup_attempts > Lookup::kMaxAttempts) {
        return "lookup_attempts must be between 1 and " + std::to_string(Lookup::kMaxAttempts);
    }
    if (auto why = rate_limit_error(c.rate_limit); !why.empty()) return why;
    if (c.lookup_candidates < c.k) return "lookup_candidates must be at least k";
    if (c.max_transactions == 0) return "max_transactions must be at least 1";
    if (c.max_lookups == 0) return "max_lookups must be at least 1";
    if (!positive(c.bucket_refresh)) return "bucket_refresh must be positive";
    if (!positive(c.recovery_refresh)) return "recovery_refresh must be positive";
    if (!positive(c.routing.recheck_after)) return "routing.recheck_after must be positive";
    if (c.routing.recheck_after > c.routing.recheck_max) {
        return "routing.recheck_after must not exceed routing.recheck_max";
    }
    if (!positive(c.routing.forget_after)) return "routing.forget_after must be positive";
    if (!positive(c.token_rotation)) return "token_rotation must be positive";
    if (c.max_reply < 512) return "max_reply must be at least 512 bytes";
    if (auto e = data_error(c); !e.empty()) return e;
    return bittorrent_error(c);
}

}  // namespace kad
