#include "kad/routing_table.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <functional>

#include "kad/big_endian.hpp"
#include "kad/random.hpp"

namespace kad {

static_assert(sizeof(Contact) <= 64, "a Contact costs every node of a large swarm");

namespace {

// A ping to c: from the second port while it has never answered us (a node behind NAT answers
// strangers only where it has sent first, so it cannot answer that one).
PingRequest ping_to(const Contact& c) {
    return PingRequest{c.id, c.endpoint, !c.verified};
}

}  // namespace

const char* to_string(IdPolicy p) noexcept {
    switch (p) {
        case IdPolicy::Any:
            return "any";
        case IdPolicy::Prefer:
            return "prefer";
        case IdPolicy::Require:
            return "require";
    }
    return "?";
}

bool RoutingTable::refuses(const NodeId& id, const Endpoint& ep) const {
    return config_.id_policy == IdPolicy::Require &&
           bep42::classify(id, ep) == bep42::IdClass::NonConforming;
}

RoutingTable::RoutingTable(const NodeId& self, RoutingConfig config, TimePoint now)
    : self_(self), config_(config) {
    if (config_.k == 0) config_.k = 1;
    buckets_.emplace_back();
    buckets_.back().last_touched_ = now;
}

std::size_t RoutingTable::bucket_index(const NodeId& id) const {
    const auto cpl = static_cast<std::size_t>(common_prefix_length(self_, id));
    return std::min(cpl, buckets_.size() - 1);
}

std::size_t RoutingTable::live_index(const Bucket& b, const NodeId& id) {
    const std::uint64_t head = EndpointIndex::head(id);
    for (std::size_t i = 0; i < b.heads_.size(); ++i) {
        if (b.heads_[i] == head && b.live_[i].id == id) return i;
    }
    return b.live_.size();
}

Contact* RoutingTable::find_live(Bucket& b, const NodeId& id) {
    const std::size_t i = live_index(b, id);
    return i < b.live_.size() ? &b.live_[i] : nullptr;
}

bool RoutingTable::self_is_nearest(const NodeId& target, const NodeId& except) const {
    for (const auto& c : buckets_[bucket_index(target)].live_) {
        // One past max_failures is presumed gone: it stays only for want of a replacement.
        if (c.failures >= config_.max_failures) continue;
        if (c.id != except && compare_distance(target, c.id, self_) < 0) return false;
    }
    return true;
}

std::size_t RoutingTable::count_nearer_than_self(const NodeId& target) const {
    std::size_t n = 0;
    for (const auto& c : buckets_[bucket_index(target)].live_) {
        if (c.failures == 0 && compare_distance(target, c.id, self_) < 0) ++n;
    }
    return n;
}

const Contact* RoutingTable::find(const NodeId& id) const {
    const Bucket& b = buckets_[bucket_index(id)];
    const std::size_t i = live_index(b, id);
    return i < b.live_.size() ? &b.live_[i] : nullptr;
}

const Contact* RoutingTable::find(const Endpoint& ep) const {
    const std::uint64_t mine = EndpointIndex::head(self_);
    const std::size_t last = buckets_.size() - 1;
    for (const auto& e : by_endpoint_.candidates(ep)) {
        // The bucket of the ID: its first 64 bits tell, unless they are ours too (then it is one
        // of the buckets past the 64th, in a table split that deep).
        const auto cpl = static_cast<std::size_t>(std::countl_zero(mine ^ e.head));  // 64: equal
        const std::size_t first = std::min(cpl, last);
        for (std::size_t i = first; i <= (cpl < 64 ? first : last); ++i) {
            const Bucket& b = buckets_[i];
            for (std::size_t j = 0; j < b.heads_.size(); ++j) {
                if (b.heads_[j] == e.head && b.live_[j].endpoint == ep) return &b.live_[j];
            }
        }
    }
    return nullptr;
}

std::uint64_t RoutingTable::EndpointIndex::head(const NodeId& id) noexcept {
    return load_be64(id.bytes().data());
}

std::span<const RoutingTable::EndpointIndex::Entry> RoutingTable::EndpointIndex::candidates(
    const Endpoint& ep) const {
    const std::uint64_t h = std::hash<Endpoint>{}(ep);
    const auto lo = std::lower_bound(entries_.begin(), entries_.end(), Entry{h, 0});
    auto hi = lo;
    while (hi != entries_.end() && hi->hash == h) ++hi;
    return {lo, hi};
}

void RoutingTable::EndpointIndex::add(const Endpoint& ep, const NodeId& id) {
    const Entry e{std::hash<Endpoint>{}(ep), head(id)};
    auto it = std::lower_bound(entries_.begin(), entries_.end(), e);
    if (entries_.size() == entries_.capacity()) {  // grow by a quarter, not double
        const auto pos = it - entries_.begin();
        entries_.reserve(entries_.size() + std::max<std::size_t>(8, entries_.size() / 4));
        it = entries_.begin() + pos;
    }
    entries_.insert(it, e);
}

void RoutingTable::EndpointIndex::erase(const Endpoint& ep, const NodeId& id) {
    const Entry e{std::hash<Endpoint>{}(ep), head(id)};
    auto it = std::lower_bound(entries_.begin(), entries_.end(), e);
    if (it != entries_.end() && *it == e) entries_.erase(it);
}

namespace {

// Room for one more in a list that never holds more than `limit`: capacity grows 2 at a time
// (2, 4, ..., 20 for k = 20), where doubling would leave a full bucket of 20 with room for 32.
// Filling a bucket costs ten allocations and 90 contacts copied, once; growing 4 at a time left
// 1.5 contacts a list unused (half a kilobyte a node in a 100-node kadswarm).
void make_room(std::vector<Contact>& list, std::size_t limit) {
    if (list.size() < list.capacity()) return;
    list.reserve(std::max(list.size() + 1, std::min(limit, list.size() + 2)));
}

}  // namespace

bool RoutingTable::can_split(std::size_t index) const {
    return index == buckets_.size() - 1 &&
           buckets_.size() < static_cast<std::size_t>(NodeId::kBits);
}

void RoutingTable::split_last() {
    const TimePoint touched = buckets_.back().last_touched_;
    buckets_.emplace_back();
    buckets_.back().last_touched_ = touched;  // a copy: the oldest (oldest_touch_) is unchanged
    Bucket& old = buckets_[buckets_.size() - 2];
    Bucket& fresh = buckets_.back();
    const std::size_t last = buckets_.size() - 1;
    auto moves = [&](const Contact& c) { return bucket_index(c.id) == last; };
    for (auto* list : {&old.live_, &old.cache_}) {
        auto& target = list == &old.live_ ? fresh.live_ : fresh.cache_;
        auto it = std::stable_partition(list->begin(), list->end(),
                                        [&](const Contact& c) { return !moves(c); });
        target.reserve(static_cast<std::size_t>(list->end() - it));
        std::move(it, list->end(), std::back_inserter(target));
        list->erase(it, list->end());
        // The room the movers leave is given back: the old bucket may take years to fill again
        // (in a small network, never), and make_room grows it 2 at a time when it does.
        list->shrink_to_fit();
    }
    for (Bucket* b : {&old, &fresh}) {
        for (auto [list, heads] :
             {std::pair{&b->live_, &b->heads_}, std::pair{&b->cache_, &b->cache_heads_}}) {
            heads->clear();
            heads->shrink_to_fit();
            heads->reserve(list->capacity());
            for (const Contact& c : *list) heads->push_back(EndpointIndex::head(c.id));
        }
    }
}

namespace {

bool same_subnet(const Endpoint& a, const Endpoint& b) {
    if (a.is_v4() != b.is_v4()) return false;
    const std::size_t n = a.is_v4() ? 3 : 8;
    return std::equal(a.address_bytes().begin(), a.address_bytes().begin() + n,
                      b.address_bytes().begin());
}

bool same_address(const Endpoint& a, const Endpoint& b) {
    return a.is_v4() == b.is_v4() && a.address_raw() == b.address_raw();
}

}  // namespace

bool RoutingTable::fits(const std::vector<Contact>& list, const Endpoint& ep) const {
    if (!config_.restrict_local && (ep.is_loopback() || ep.is_private())) return true;
    std::size_t ip = 0, net = 0;
    for (const Contact& c : list) {
        if (!same_subnet(c.endpoint, ep)) continue;
        ++net;
        if (same_address(c.endpoint, ep)) ++ip;
    }
    if (ip < config_.max_per_ip && net < config_.max_per_subnet) return true;
    ++address_limited_;
    return false;
}

void RoutingTable::insert_live(Bucket& b, Contact c) {
    c.verified = true;
    c.ping_pending = false;
    by_endpoint_.add(c.endpoint, c.id);
    make_room(b.live_, config_.k);
    b.heads_.reserve(b.live_.capacity());
    b.heads_.push_back(EndpointIndex::head(c.id));
    b.live_.push_back(c);
    ++size_;
}

void RoutingTable::remove_live(Bucket& b, std::size_t pos) {
    by_endpoint_.erase(b.live_[pos].endpoint, b.live_[pos].id);
    b.live_.erase(b.live_.begin() + static_cast<std::ptrdiff_t>(pos));
    b.heads_.erase(b.heads_.begin() + static_cast<std::ptrdiff_t>(pos));
    --size_;
}

void RoutingTable::add_replacement(Bucket& b, const Contact& c) {
    if (Contact* r = find_cached(b, c.id)) {
        // Keep what we know; an answer upgrades an entry, hearsay never downgrades it.
        if (c.verified) {
            r->endpoint = c.endpoint;
            r->last_seen = c.last_seen;
            static_cast<RttEstimator&>(*r) = c;
            r->verified = true;
            r->ping_pending = false;
        }
        return;
    }
    if (!fits(b.cache_, c.endpoint)) return;
    if (b.cache_.size() >= config_.replacements) {
        // Make room: drop an unverified entry first, else the one seen longest ago.
        auto victim = std::min_element(b.cache_.begin(), b.cache_.end(),
                                       [](const Contact& x, const Contact& y) {
                                           if (x.verified != y.verified) return !x.verified;
                                           return x.last_seen < y.last_seen;
                                       });
        ++replacements_dropped_;
        if (victim->verified && !c.verified) return;  // the newcomer is the one dropped
        erase_cached(b, static_cast<std::size_t>(victim - b.cache_.begin()));
    }
    make_room(b.cache_, config_.replacements);
    b.cache_heads_.reserve(b.cache_.capacity());
    b.cache_heads_.push_back(EndpointIndex::head(c.id));
    b.cache_.push_back(c);
}

void RoutingTable::erase_cached(Bucket& b, std::size_t pos) {
    b.cache_.erase(b.cache_.begin() + static_cast<std::ptrdiff_t>(pos));
    b.cache_heads_.erase(b.cache_heads_.begin() + static_cast<std::ptrdiff_t>(pos));
}

bool RoutingTable::better_replacement(const Contact& a, const Contact& b) const {
    if (config_.id_policy == IdPolicy::Prefer) {
        const bool a_bad = bep42::classify(a.id, a.endpoint) == bep42::IdClass::NonConforming;
        const bool b_bad = bep42::classify(b.id, b.endpoint) == bep42::IdClass::NonConforming;
        if (a_bad != b_bad) return b_bad;
    }
    return a.last_seen > b.last_seen;
}

std::optional<PingRequest> RoutingTable::promote_replacement(Bucket& b, bool may_ping,
                                                             const Endpoint* taken) {
    if (promote_verified(b, taken) || !may_ping) return std::nullopt;
    return ping_replacement(b);
}

bool RoutingTable::promote_verified(Bucket& b, const Endpoint* taken) {
    auto best = b.cache_.end();
    for (auto it = b.cache_.begin(); it != b.cache_.end(); ++it) {
        if (!it->verified || find(it->endpoint)) continue;
        if (taken && it->endpoint == *taken) continue;
        if (!fits(b.live_, it->endpoint)) continue;
        if (best == b.cache_.end() || better_replacement(*it, *best)) best = it;
    }
    if (best == b.cache_.end()) return false;
    const Contact c = *best;
    erase_cached(b, static_cast<std::size_t>(best - b.cache_.begin()));
    insert_live(b, c);
    return true;
}

std::optional<PingRequest> RoutingTable::ping_replacement(Bucket& b) {
    // Only hearsay left: the newest entry must answer a ping before it takes the slot.
    for (auto it = b.cache_.rbegin(); it != b.cache_.rend(); ++it) {
        if (!it->ping_pending) {
            it->ping_pending = true;
            return ping_to(*it);
        }
    }
    return std::nullopt;
}

void RoutingTable::on_answered(TimePoint now, const NodeId& id, const Endpoint& ep,
                               std::optional<Duration> rtt) {
    if (id == self_ || ep.is_unusable()) return;
    // A known ID at a new endpoint is ignored while its old endpoint still answers: a reply
    // cannot move someone else's contact.
    if (const Contact* known = find(id); known && known->endpoint != ep && known->failures == 0) {
        return;
    }
    if (refuses(id, ep)) {
        ++ids_refused_;
        return;
    }
    release_endpoint(ep, id);
    if (Contact* c = find_live(buckets_[bucket_index(id)], id)) return refresh(now, *c, ep, rtt);
    place(now, newcomer(now, id, ep, rtt));
}

void RoutingTable::release_endpoint(const Endpoint& ep, const NodeId& id) {
    // At most one contact per endpoint: a different ID answering there replaces the old one.
    const Contact* at_ep = find(ep);
    if (!at_ep || at_ep->id == id) return;
    const NodeId other = at_ep->id;  // a copy: removing it moves the contacts
    Bucket& ob = buckets_[bucket_index(other)];
    const std::size_t i = live_index(ob, other);
    if (i == ob.live_.size()) return;
    remove_live(ob, i);
    // A verified replacement takes the slot; not one at this endpoint, which the answering ID
    // is about to take.
    promote_replacement(ob, false, &ep);
}

void RoutingTable::refresh(TimePoint now, Contact& c, const Endpoint& ep,
                           std::optional<Duration> rtt) {
    if (c.endpoint != ep) {
        if (c.failures == 0) return;  // the known endpoint still answers: keep it
        by_endpoint_.erase(c.endpoint, c.id);
        c.endpoint = ep;
        c.RttEstimator::reset();
        by_endpoint_.add(ep, c.id);
    }
    // Back after failing long enough to have been cut off from us: a partition may have healed.
    if (c.failures >= config_.max_failures && now - c.last_seen >= config_.recheck_after) {
        ++recoveries_;
    }
    c.last_seen = now;
    c.failures = 0;
    c.rechecks = 0;
    c.ping_pending = false;
    if (rtt) c.add_sample(*rtt);
    touch_bucket(buckets_[bucket_index(c.id)], now);
}

Contact RoutingTable::newcomer(TimePoint now, const NodeId& id, const Endpoint& ep,
                               std::optional<Duration> rtt) {
    Contact fresh;
    fresh.id = id;
    fresh.endpoint = ep;
    // A cached replacement carries its RTT history with it.
    Bucket& b = buckets_[bucket_index(id)];
    if (const Contact* cached = find_cached(b, id)) {
        if (cached->endpoint == ep) fresh = *cached;
        erase_cached(b, static_cast<std::size_t>(cached - b.cache_.data()));
    }
    fresh.last_seen = now;
    fresh.failures = 0;
    fresh.rechecks = 0;
    fresh.verified = true;
    fresh.ping_pending = false;
    if (rtt) fresh.add_sample(*rtt);
    return fresh;
}

void RoutingTable::place(TimePoint now, const Contact& fresh) {
    bool limited = false;
    for (;;) {
        const std::size_t idx = bucket_index(fresh.id);
        Bucket& b = buckets_[idx];
        if (b.live_.size() < config_.k) {
            limited = !fits(b.live_, fresh.endpoint);  // its network has its share here
            if (limited) break;
            insert_live(b, fresh);
            touch_bucket(b, now);
            return;
        }
        if (!can_split(idx)) break;
        split_last();
    }
    Bucket& b = buckets_[bucket_index(fresh.id)];
    if (limited || !fits(b.live_, fresh.endpoint)) return add_replacement(b, fresh);
    // A failing contact gives way to one that has just answered; with IdPolicy::Prefer, so
    // does a nonconforming one to a newcomer that conforms (or is exempt).
    std::size_t worst = most_failing(b);
    if (worst == b.live_.size() && config_.id_policy == IdPolicy::Prefer &&
        bep42::classify(fresh.id, fresh.endpoint) != bep42::IdClass::NonConforming) {
        worst = displaceable(b);
        if (worst != b.live_.size()) {
            ++ids_displaced_;
            Contact displaced = b.live_[worst];
            remove_live(b, worst);
            insert_live(b, fresh);
            touch_bucket(b, now);
            add_replacement(b, displaced);
            return;
        }
    }
    if (worst == b.live_.size()) return add_replacement(b, fresh);
    remove_live(b, worst);
    insert_live(b, fresh);
    touch_bucket(b, now);
}

std::size_t RoutingTable::displaceable(const Bucket& b) const {
    std::size_t pick = b.live_.size();
    for (std::size_t i = 0; i < b.live_.size(); ++i) {
        const Contact& c = b.live_[i];
        if (bep42::classify(c.id, c.endpoint) != bep42::IdClass::NonConforming) continue;
        if (pick == b.live_.size() || c.last_seen < b.live_[pick].last_seen) pick = i;
    }
    return pick;
}

std::size_t RoutingTable::most_failing(const Bucket& b) {
    std::size_t worst = b.live_.size();
    for (std::size_t i = 0; i < b.live_.size(); ++i) {
        const Contact& c = b.live_[i];
        if (c.failures == 0) continue;
        if (worst == b.live_.size() || c.failures > b.live_[worst].failures ||
            (c.failures == b.live_[worst].failures && c.last_seen < b.live_[worst].last_seen)) {
            worst = i;
        }
    }
    return worst;
}

std::optional<PingRequest> RoutingTable::on_heard_of(TimePoint now, const NodeId& id,
                                                     const Endpoint& ep) {
    if (id == self_ || ep.is_unusable()) return std::nullopt;
    if (refuses(id, ep)) {
        ++ids_refused_;
        return std::nullopt;
    }
    const std::size_t idx = bucket_index(id);
    Bucket& b = buckets_[idx];
    if (Contact* live = find_live(b, id)) {
        // A failing contact is there again (a partition healed, say): an answer to a ping clears
        // its failures. A query alone proves nothing: its source may be forged.
        if (live->failures == 0 || live->ping_pending || live->endpoint != ep) return std::nullopt;
        live->ping_pending = true;
        return PingRequest{id, ep};
    }
    // Its last probe went unanswered: behind NAT, most likely, and it would not answer this one.
    if (unreachable_.contains(ep, now)) {
        ++probes_skipped_;
        return std::nullopt;
    }
    Contact* cached = find_cached(b, id);
    if (cached && cached->ping_pending) return std::nullopt;
    if (const Contact* there = find(ep); there && there->id != id) {
        // Another ID speaks from a contact's endpoint: the node there may have taken a new one
        // (BEP 42). Whichever answers a ping there holds the endpoint (on_answered).
        if (cached) {
            cached->ping_pending = true;
            // A probe unless it answered us there: `verified` is for its cached endpoint.
            return PingRequest{id, ep, !cached->verified || cached->endpoint != ep};
        }
        Contact c;
        c.id = id;
        c.endpoint = ep;
        c.last_seen = now;
        c.ping_pending = true;
        add_replacement(b, c);
        return ping_to(c);
    }
    // Hearsay follows the latest address; an answer (verified) keeps the one that answered.
    if (cached && !cached->verified) cached->endpoint = ep;
    if (!cached) {
        Contact c;
        c.id = id;
        c.endpoint = ep;
        c.last_seen = now;
        add_replacement(b, c);
        cached = find_cached(b, id);  // unless the cache turned it away
    }
    const bool room = b.live_.size() < config_.k || can_split(idx) ||
                      std::any_of(b.live_.begin(), b.live_.end(),
                                  [](const Contact& c) { return c.failures > 0; });
    if (!room) return ping_stale(now, b);
    // Verify it: a ping it answers will bring it in through on_answered.
    if (!cached) return std::nullopt;
    cached->ping_pending = true;
    return ping_to(*cached);
}

Contact* RoutingTable::find_cached(Bucket& b, const NodeId& id) {
    // An ID is cached once at most (add_replacement updates the entry it has).
    const std::uint64_t head = EndpointIndex::head(id);
    for (std::size_t i = 0; i < b.cache_heads_.size(); ++i) {
        if (b.cache_heads_[i] == head && b.cache_[i].id == id) return &b.cache_[i];
    }
    return nullptr;
}

std::optional<PingRequest> RoutingTable::ping_stale(TimePoint now, Bucket& b) const {
    // The bucket is full of contacts that answer. Check on the one heard from longest ago.
    auto lrs = std::min_element(
        b.live_.begin(), b.live_.end(),
        [](const Contact& x, const Contact& y) { return x.last_seen < y.last_seen; });
    if (lrs == b.live_.end() || lrs->ping_pending || now - lrs->last_seen < config_.stale_after) {
        return std::nullopt;
    }
    lrs->ping_pending = true;
    return PingRequest{lrs->id, lrs->endpoint};
}

std::optional<PingRequest> RoutingTable::on_failed(TimePoint, const NodeId& id,
                                                   const Endpoint& ep) {
    Bucket& b = buckets_[bucket_index(id)];
    if (const std::size_t i = live_index(b, id); i < b.live_.size()) {
        Contact& c = b.live_[i];
        if (c.endpoint != ep) return std::nullopt;
        ++failures_counted_;
        c.ping_pending = false;
        if (c.failures < UINT8_MAX) ++c.failures;
        if (c.failures < config_.max_failures) return std::nullopt;
        // Replaceable: a verified replacement takes its place at once. With none, it stays (the
        // paper keeps a stale contact while nothing replaces it): under heavy loss or a
        // partition the table keeps its contacts instead of emptying. recheck() pings it again,
        // and forgets it after forget_after without an answer.
        if (std::any_of(b.cache_.begin(), b.cache_.end(),
                        [](const Contact& r) { return r.verified; })) {
            const Contact failing = c;
            remove_live(b, i);
            if (promote_verified(b, nullptr)) return std::nullopt;
            by_endpoint_.add(failing.endpoint, failing.id);  // none fits: it keeps its place
            b.live_.insert(b.live_.begin() + static_cast<std::ptrdiff_t>(i), failing);
            b.heads_.insert(b.heads_.begin() + static_cast<std::ptrdiff_t>(i),
                            EndpointIndex::head(failing.id));
            ++size_;
        }
        // Hearsay: the newest must answer a ping, and then takes the slot (place).
        return ping_replacement(b);
    }
    // An unverified candidate that did not answer is forgotten.
    if (const Contact* r = find_cached(b, id); r && r->endpoint == ep) {
        erase_cached(b, static_cast<std::size_t>(r - b.cache_.data()));
    }
    return std::nullopt;
}

TimePoint RoutingTable::recheck_due(const Contact& c) const {
    // recheck_after after its last answer, then twice as long again, ..., the step capped at
    // recheck_max.
    Duration wait{};
    Duration step = std::min(config_.recheck_after, config_.recheck_max);
    int r = 0;
    for (; r <= c.rechecks && step < config_.recheck_max; ++r) {
        wait += step;
        step = std::min(step * 2, config_.recheck_max);
    }
    if (r <= c.rechecks) wait += step * (c.rechecks - r + 1);
    return c.last_seen + wait;
}

TimePoint RoutingTable::recheck(TimePoint now, std::vector<PingRequest>& out) {
    TimePoint next = TimePoint::max();
    for (auto& b : buckets_) {
        for (std::size_t i = 0; i < b.live_.size();) {
            Contact& c = b.live_[i];
            if (c.failures == 0) {
                ++i;
                continue;
            }
            if (now - c.last_seen >= config_.forget_after) {
                // Silent for so long that it is not coming back (nothing replaced it meanwhile).
                remove_live(b, i);
                promote_replacement(b, false);
                continue;
            }
            next = std::min(next, c.last_seen + config_.forget_after);
            if (c.rechecks < UINT8_MAX) {
                if (!c.ping_pending && recheck_due(c) <= now) {
                    c.ping_pending = true;
                    ++c.rechecks;
                    out.push_back(PingRequest{c.id, c.endpoint});
                }
                next = std::min(next, recheck_due(c));
            }
            ++i;
        }
    }
    return next;
}

bool RoutingTable::remove(const NodeId& id, const Endpoint& ep) {
    Bucket& b = buckets_[bucket_index(id)];
    const std::size_t i = live_index(b, id);
    if (i == b.live_.size() || b.live_[i].endpoint != ep) return false;
    remove_live(b, i);
    promote_replacement(b, false);
    return true;
}

void RoutingTable::on_ping_abandoned(const NodeId& id) {
    Bucket& b = buckets_[bucket_index(id)];
    for (auto* list : {&b.live_, &b.cache_}) {
        for (auto& c : *list) {
            if (c.id == id) c.ping_pending = false;
        }
    }
}

void RoutingTable::rekey(const NodeId& self, TimePoint now) {
    std::vector<Contact> live, cached;
    live.reserve(size_);
    for (auto& b : buckets_) {
        live.insert(live.end(), b.live_.begin(), b.live_.end());
        cached.insert(cached.end(), b.cache_.begin(), b.cache_.end());
    }
    self_ = self;
    buckets_.clear();
    buckets_.emplace_back();
    by_endpoint_ = EndpointIndex();
    size_ = 0;
    for (const auto& c : live) {
        if (c.id != self_) place(now, c);
    }
    for (const auto& c : cached) {
        if (c.id == self_ || find(c.endpoint)) continue;
        Bucket& b = buckets_[bucket_index(c.id)];
        if (!find_live(b, c.id)) add_replacement(b, c);
    }
    for (auto& b : buckets_) b.last_touched_ = TimePoint{};  // all due: we have moved
    oldest_known_ = false;
}

IdCensus RoutingTable::id_census() const {
    IdCensus n;
    for (const auto& b : buckets_) {
        for (const auto& c : b.live_) {
            switch (bep42::classify(c.id, c.endpoint)) {
                case bep42::IdClass::Conforming:
                    ++n.conforming;
                    break;
                case bep42::IdClass::NonConforming:
                    ++n.nonconforming;
                    break;
                case bep42::IdClass::Exempt:
                    ++n.exempt;
                    break;
            }
        }
    }
    return n;
}

bool ContactFilter::accepts(const Contact& c) const noexcept {
    if (!include_failing && c.failures > 0) return false;
    if (c.endpoint.is_v4() ? !v4 : !v6) return false;
    return !exclude || c.id != *exclude;
}

void RoutingTable::closest(const NodeId& target, std::size_t n, std::vector<const Contact*>& out,
                           bool include_failing) const {
    ContactFilter filter;
    filter.include_failing = include_failing;
    closest(target, n, filter, out);
}

void RoutingTable::closest(const NodeId& target, std::size_t n, const ContactFilter& filter,
                           std::vector<const Contact*>& out) const {
    out.clear();
    if (n == 0) return;
    // Contacts fall into groups ordered by distance to target without comparing across groups
    // (see docs/ARCHITECTURE.md): the target's own bucket; then every deeper bucket together;
    // then the shallower buckets one by one, deepest first. Sort within a group only.
    const std::size_t last = buckets_.size() - 1;
    const std::size_t tb = bucket_index(target);
    const CloserTo closer{target};
    const std::uint64_t target_word = EndpointIndex::head(target);
    // A group is sorted on the first 64 bits of each distance, from the buckets' heads, whole
    // IDs compared only where those bits are equal; then the filter reads contacts nearest
    // first, only until it has its n: most of a bucket is never read.
    struct Keyed {
        std::uint64_t key;
        const Contact* contact;
    };
    constexpr std::size_t kOnStack = 64;  // a group is a bucket (k, 20 by default) or a few
    std::array<Keyed, kOnStack> stack;    // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::vector<Keyed> heap;
    auto take = [&](std::size_t from, std::size_t to) {  // buckets [from, to]
        std::size_t count = 0;
        for (std::size_t i = from; i <= to; ++i) count += buckets_[i].live_.size();
        if (count > kOnStack) heap.resize(count);
        Keyed* keyed = count > kOnStack ? heap.data() : stack.data();
        std::size_t m = 0;
        for (std::size_t i = from; i <= to; ++i) {
            const Bucket& b = buckets_[i];
            for (std::size_t j = 0; j < b.live_.size(); ++j) {
                keyed[m++] = {b.heads_[j] ^ target_word, &b.live_[j]};
            }
        }
        std::sort(keyed, keyed + m, [&](const Keyed& x, const Keyed& y) {
            return x.key != y.key ? x.key < y.key : closer(x.contact->id, y.contact->id);
        });
        for (std::size_t i = 0; i < m && out.size() < n; ++i) {
            if (filter.accepts(*keyed[i].contact)) out.push_back(keyed[i].contact);
        }
    };
    take(tb, tb);
    if (out.size() < n && tb < last) take(tb + 1, last);
    for (std::size_t i = tb; i-- > 0 && out.size() < n;) take(i, i);
}

std::vector<const Contact*> RoutingTable::closest(const NodeId& target, std::size_t n,
                                                  bool include_failing) const {
    std::vector<const Contact*> out;
    closest(target, n, out, include_failing);
    return out;
}

std::vector<std::size_t> RoutingTable::buckets_due(TimePoint now, Duration interval) const {
    std::vector<std::size_t> due;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        if (now - buckets_[i].last_touched_ >= interval) due.push_back(i);
    }
    return due;
}

TimePoint RoutingTable::next_refresh(Duration interval) const {
    if (!oldest_known_) {
        oldest_touch_ = TimePoint::max();
        for (const auto& b : buckets_) oldest_touch_ = std::min(oldest_touch_, b.last_touched_);
        oldest_known_ = true;
    }
    return oldest_touch_ + interval;
}

void RoutingTable::touch_bucket(Bucket& b, TimePoint t) {
    if (oldest_known_) {
        if (t < oldest_touch_) {
            oldest_touch_ = t;
        } else if (b.last_touched_ == oldest_touch_) {
            oldest_known_ = false;  // it was the oldest, perhaps the only one that old
        }
    }
    b.last_touched_ = t;
}

void RoutingTable::touch(const NodeId& target, TimePoint now) {
    touch_bucket(buckets_[bucket_index(target)], now);
}

NodeId RoutingTable::random_id_in_bucket(std::size_t i, RandomSource& rng) const {
    const std::size_t last = buckets_.size() - 1;
    if (i >= last) return NodeId::random_with_prefix(self_, static_cast<int>(last), rng);
    return NodeId::random_with_prefix(self_.with_bit_flipped(static_cast<int>(i)),
                                      static_cast<int>(i) + 1, rng);
}

std::vector<const Contact*> RoutingTable::all() const {
    std::vector<const Contact*> out;
    out.reserve(size_);
    for (const auto& b : buckets_) {
        for (const auto& c : b.live_) out.push_back(&c);
    }
    return out;
}

}  // namespace kad
