#include "kad/lookup.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace kad {

Lookup::Lookup(const LookupParams& params)
    : p_(params), target_word_(load_be64(params.target.bytes().data())) {
    p_.max_attempts = std::min(p_.max_attempts, kMaxAttempts);
    p_.max_candidates =
        std::min<std::size_t>(p_.max_candidates, std::numeric_limits<std::uint32_t>::max());
}

std::size_t Lookup::position(const NodeId& id, std::uint64_t key) const {
    const auto it =
        std::lower_bound(order_.begin(), order_.end(), key, [&](const Rank& r, std::uint64_t k) {
            if (r.key != k) return r.key < k;
            return compare_distance(p_.target, rec(r.index).id, id) < 0;
        });
    return static_cast<std::size_t>(it - order_.begin());
}

const Lookup::Rank* Lookup::find(const NodeId& id) const {
    const std::uint64_t key = key_of(id);
    const std::size_t i = position(id, key);
    if (i == order_.size() || order_[i].key != key) return nullptr;
    return rec(order_[i].index).id == id ? &order_[i] : nullptr;
}

Lookup::Rank* Lookup::find(const NodeId& id) {
    return const_cast<Rank*>(std::as_const(*this).find(id));
}

const LookupCandidate* Lookup::candidate(const NodeId& id) const {
    const Rank* r = find(id);
    return r ? &rec(r->index) : nullptr;
}

std::optional<CandidateStatus> Lookup::status(const NodeId& id) const {
    const Rank* r = find(id);
    if (!r) return std::nullopt;
    return CandidateStatus{r->state, r->attempts, r->outstanding};
}

void Lookup::add(const NodeId& id, const Endpoint& ep, int depth, Duration named_after) {
    if (id == p_.self || ep.is_unusable()) return;
    const std::uint64_t key = key_of(id);
    std::size_t pos = position(id, key);
    if (pos < order_.size() && order_[pos].key == key && rec(order_[pos].index).id == id) {
        LookupCandidate& c = rec(order_[pos].index);
        c.depth = std::min(c.depth, depth);
        if (order_[pos].state != State::Answered && order_[pos].state != State::Routed) {
            c.named_after = std::min(c.named_after, named_after);
        }
        return;
    }
    std::uint32_t slot = records_;
    if (order_.size() >= p_.max_candidates) {
        ++dropped_;
        if (pos == order_.size()) return;  // farther than everything we keep
        slot = order_.back().index;        // the farthest makes room, and leaves its record
        order_.pop_back();
    }
    LookupCandidate c;
    c.id = id;
    c.endpoint = ep;
    c.depth = depth;
    c.named_after = named_after;
    if (slot == records_) {
        if (records_ % kBlock == 0) blocks_.push_back(std::make_unique<LookupCandidate[]>(kBlock));
        ++records_;
    }
    rec(slot) = c;
    order_.insert(order_.begin() + static_cast<std::ptrdiff_t>(pos),
                  Rank{key, slot, State::Fresh, 0, 0});
}

void Lookup::add_local_value(const krpc::Item& item, const NodeId& self) {
    if (item.seq < p_.min_seq) return;
    if (!value_ || item.seq > value_->item.seq) value_ = FoundValue{item, self, Endpoint{}, 0, {}};
}

bool Lookup::retry_due(const Rank& r) const {
    return r.state == State::Slow && r.attempts < p_.max_attempts;
}

// The end of the k nearest candidates that may still be results (not failed, not only routing,
// not silent through every attempt): the silent among them are worth asking again.
std::size_t Lookup::eligible_end() const {
    std::size_t eligible = 0;
    for (std::size_t i = 0; i < order_.size(); ++i) {
        const Rank& r = order_[i];
        if (r.state == State::Failed || r.state == State::Routed) continue;
        if (r.state == State::Slow && r.attempts >= p_.max_attempts) continue;
        if (++eligible == p_.k) return i + 1;
    }
    return order_.size();
}

std::vector<krpc::NodeInfo> Lookup::next_queries() {
    std::vector<krpc::NodeInfo> out;
    if (p_.stop_at_value && value_ && value_->hops > 0) return out;
    auto send = [&](Rank& r) {
        ++r.attempts;
        ++r.outstanding;
        ++queries_;
        const LookupCandidate& c = rec(r.index);
        out.push_back({c.id, c.endpoint});
    };
    // The frontier: candidates nearer than the nearest answer, asked alpha at a time (the
    // queries farther out only confirm, and do not hold back the search ahead). Once nothing is
    // left in it, the lookup has converged: the rest of the k nearest are asked all at once
    // (Kademlia's "resend to all of the k closest not already queried"), so confirming them
    // costs one round trip rather than k / alpha.
    const std::size_t nearest = nearest_answer();
    std::size_t frontier_busy = 0;
    for (std::size_t i = 0; i < nearest; ++i) {
        if (order_[i].state == State::Waiting) ++frontier_busy;
    }
    std::size_t seen = 0;
    bool converged = true;
    for (std::size_t i = 0; i < order_.size() && seen < p_.k; ++i) {
        Rank& r = order_[i];
        if (out_of_window(r)) continue;
        ++seen;
        if (i < nearest) {
            converged = false;
            if (r.state == State::Fresh && frontier_busy < p_.alpha) {
                r.state = State::Waiting;
                send(r);
                ++frontier_busy;
            }
        } else if (converged && r.state == State::Fresh) {
            r.state = State::Waiting;
            send(r);
        }
    }
    // The silent among the k nearest still in play (those that would be results if alive):
    // every remaining attempt at once.
    const std::size_t end = eligible_end();
    for (std::size_t i = 0; i < end; ++i) {
        Rank& r = order_[i];
        if (!retry_due(r)) continue;
        r.state = State::Retrying;
        while (r.attempts < p_.max_attempts) send(r);
    }
    return out;
}

std::size_t Lookup::nearest_answer() const {
    for (std::size_t i = 0; i < order_.size(); ++i) {
        if (order_[i].state == State::Answered || order_[i].state == State::Routed) return i;
    }
    return order_.size();
}

bool Lookup::window_answered() const {
    std::size_t seen = 0;
    for (const Rank& r : order_) {
        if (seen >= p_.k) break;
        if (out_of_window(r)) continue;
        if (r.state != State::Answered) return false;
        ++seen;
    }
    return true;
}

bool Lookup::on_reply(const NodeId& id, const std::vector<krpc::NodeInfo>& nodes,
                      const std::optional<std::string>& token,
                      const std::optional<krpc::Item>& item, Duration rtt) {
    Rank* r = find(id);
    if (!r || r->state == State::Answered || r->state == State::Routed) return false;
    r->state = p_.need_token && !token ? State::Routed : State::Answered;
    if (r->outstanding > 0) --r->outstanding;
    LookupCandidate& c = rec(r->index);
    if (token) {
        tokens_.push_front(*token);
        c.token = &tokens_.front();
    }
    c.path = c.named_after + rtt;
    const int depth = c.depth;
    const Duration path = c.path;
    if (item && item->seq >= p_.min_seq) {
        c.item_seq = item->seq;
        // The highest seq wins; at equal seq a remote copy replaces our own (found remotely).
        if (!value_ || item->seq > value_->item.seq ||
            (item->seq == value_->item.seq && value_->hops == 0)) {
            value_ = FoundValue{*item, c.id, c.endpoint, depth + 1, path};
        }
    }
    // `r` moves once candidates are added; nothing below uses it.
    for (const auto& n : nodes) add(n.id, n.endpoint, depth + 1, path);
    return true;
}

bool Lookup::out_of_window(const Rank& r) {
    return r.state == State::Failed || r.state == State::Slow || r.state == State::Retrying ||
           r.state == State::Routed;
}

void Lookup::on_soft_timeout(const NodeId& id) {
    Rank* r = find(id);
    if (!r || (r->state != State::Waiting && r->state != State::Retrying)) return;
    r->state = State::Slow;  // frees the slot; asked again if it still matters
}

void Lookup::on_failed(const NodeId& id, bool final) {
    Rank* r = find(id);
    if (!r || r->state == State::Answered || r->state == State::Routed) return;
    if (r->outstanding > 0) --r->outstanding;
    if (final || r->outstanding == 0) r->state = State::Failed;
}

bool Lookup::done() const {
    if (p_.stop_at_value && value_ && value_->hops > 0) {
        // Found: wait only for the queries nearer the key than the node that returned it (they
        // hold a newer version if anyone does), not for the rest of the k nearest a converged
        // lookup has in flight.
        const std::uint64_t from = key_of(value_->from_id);
        for (const Rank& r : order_) {
            if (r.key == from && rec(r.index).id == value_->from_id) return true;
            if (r.state == State::Waiting) return false;
        }
        return true;
    }
    if (!window_answered()) return false;
    const auto end = order_.begin() + static_cast<std::ptrdiff_t>(eligible_end());
    if (std::any_of(order_.begin(), end, [this](const Rank& r) { return retry_due(r); })) {
        return false;
    }
    if (std::any_of(order_.begin(), order_.end(),
                    [](const Rank& r) { return r.state == State::Retrying; })) {
        return false;
    }
    if (waiting_for_nearest()) return false;
    // No answer yet, but queries past their soft timeout may still be answered (until their hard
    // timeout): the path may be slower than every estimate, as when the delay jumps. Ending now
    // would end empty with the answers on their way.
    const bool answered = std::any_of(order_.begin(), order_.end(), [](const Rank& r) {
        return r.state == State::Answered || r.state == State::Routed;
    });
    const bool outstanding = std::any_of(order_.begin(), order_.end(), [](const Rank& r) {
        return r.state == State::Slow && r.outstanding > 0;
    });
    return answered || !outstanding;
}

// Patience (LookupParams::wait_nearest): the nearest candidates in play (not failed, not only
// routing) include one past the soft timeouts of all its attempts, none of which has failed yet
// (a failure is a hard timeout, and the first query's comes first), so a slow host's answer may
// still come; and no more than wait_max_silent of the k nearest in play are silent: one or two
// silent nodes among neighbours that answered are likelier slow than dead, while several are
// likelier stale contacts, which the soft timeouts exist not to wait for.
bool Lookup::waiting_for_nearest() const {
    if (p_.wait_nearest == 0) return false;
    std::size_t seen = 0, silent = 0;
    bool nearest_silent = false;
    for (const Rank& r : order_) {
        if (seen >= p_.k) break;
        if (r.state == State::Failed || r.state == State::Routed) continue;
        if (r.state == State::Slow) {
            if (++silent > p_.wait_max_silent) return false;
            if (seen < p_.wait_nearest && r.outstanding > 0 && r.outstanding == r.attempts) {
                nearest_silent = true;
            }
        }
        ++seen;
    }
    return nearest_silent;
}

std::vector<const LookupCandidate*> Lookup::results() const {
    std::vector<const LookupCandidate*> out;
    for (const Rank& r : order_) {
        if (out.size() >= p_.k) break;
        if (r.state == State::Answered) out.push_back(&rec(r.index));
    }
    return out;
}

const LookupCandidate* Lookup::cache_target() const {
    if (!value_) return nullptr;
    for (const Rank& r : order_) {
        if (r.state != State::Answered) continue;
        const LookupCandidate& c = rec(r.index);
        if (!c.token) continue;
        if (!c.item_seq || *c.item_seq < value_->item.seq) return &c;
    }
    return nullptr;
}

int Lookup::hops() const {
    if (value_ && value_->hops > 0) return value_->hops;
    int h = 0;
    for (const auto* c : results()) h = std::max(h, c->depth + 1);
    return h;
}

Duration Lookup::bound() const {
    if (p_.stop_at_value && value_ && value_->hops > 0) return value_->path;
    Duration b{};
    for (const auto* c : results()) b = std::max(b, c->path);
    return b;
}

}  // namespace kad
