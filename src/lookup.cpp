#include "kad/lookup.hpp"

#include <algorithm>

namespace kad {

std::vector<LookupCandidate>::iterator Lookup::position(const NodeId& id, std::uint64_t key) {
    // Distances to the target are distinct for distinct IDs, so the sorted position of an ID is
    // unique: binary search finds it. Most steps decide on the 64-bit keys alone.
    return std::lower_bound(cands_.begin(), cands_.end(), id,
                            [&](const LookupCandidate& c, const NodeId& x) {
                                if (c.key != key) return c.key < key;
                                return compare_distance(p_.target, c.id, x) < 0;
                            });
}

LookupCandidate* Lookup::find(const NodeId& id) {
    auto it = position(id, key_of(id));
    return it != cands_.end() && it->id == id ? &*it : nullptr;
}

void Lookup::add(const NodeId& id, const Endpoint& ep, int depth, Duration named_after) {
    if (id == p_.self || ep.is_unusable()) return;
    const std::uint64_t key = key_of(id);
    auto it = position(id, key);
    if (it != cands_.end() && it->id == id) {
        it->depth = std::min(it->depth, depth);
        if (it->state != State::Answered && it->state != State::Routed) {
            it->named_after = std::min(it->named_after, named_after);
        }
        return;
    }
    if (cands_.size() >= p_.max_candidates) {
        ++dropped_;
        if (it == cands_.end()) return;  // farther than everything we keep
        const auto pos = it - cands_.begin();
        cands_.pop_back();  // the farthest makes room
        it = cands_.begin() + pos;
    }
    LookupCandidate c;
    c.id = id;
    c.key = key;
    c.endpoint = ep;
    c.depth = depth;
    c.named_after = named_after;
    cands_.insert(it, c);
}

void Lookup::add_local_value(const krpc::Item& item, const NodeId& self) {
    if (item.seq < p_.min_seq) return;
    if (!value_ || item.seq > value_->item.seq) value_ = FoundValue{item, self, Endpoint{}, 0, {}};
}

bool Lookup::retry_due(const LookupCandidate& c) const {
    return c.state == State::Slow && c.attempts < p_.max_attempts;
}

// The end of the k nearest candidates that may still be results (not failed, not only routing,
// not silent through every attempt): the silent among them are worth asking again.
std::size_t Lookup::eligible_end() const {
    std::size_t eligible = 0;
    for (std::size_t i = 0; i < cands_.size(); ++i) {
        const LookupCandidate& c = cands_[i];
        if (c.state == State::Failed || c.state == State::Routed) continue;
        if (c.state == State::Slow && c.attempts >= p_.max_attempts) continue;
        if (++eligible == p_.k) return i + 1;
    }
    return cands_.size();
}

std::vector<LookupCandidate> Lookup::next_queries() {
    std::vector<LookupCandidate> out;
    if (p_.stop_at_value && value_ && value_->hops > 0) return out;
    auto ask = [&](LookupCandidate& c) {
        c.state = State::Waiting;
        ++c.attempts;
        ++c.outstanding;
        ++queries_;
        out.push_back(c);
    };
    // The frontier: candidates nearer than the nearest answer, asked alpha at a time (the
    // queries farther out only confirm, and do not hold back the search ahead). Once nothing is
    // left in it, the lookup has converged: the rest of the k nearest are asked all at once
    // (Kademlia's "resend to all of the k closest not already queried"), so confirming them
    // costs one round trip rather than k / alpha.
    const std::size_t nearest = nearest_answer();
    std::size_t frontier_busy = 0;
    for (std::size_t i = 0; i < nearest; ++i) {
        if (cands_[i].state == State::Waiting) ++frontier_busy;
    }
    std::size_t seen = 0;
    bool converged = true;
    for (std::size_t i = 0; i < cands_.size() && seen < p_.k; ++i) {
        LookupCandidate& c = cands_[i];
        if (out_of_window(c)) continue;
        ++seen;
        if (i < nearest) {
            converged = false;
            if (c.state == State::Fresh && frontier_busy < p_.alpha) {
                ask(c);
                ++frontier_busy;
            }
        } else if (converged && c.state == State::Fresh) {
            ask(c);
        }
    }
    // The silent among the k nearest still in play (those that would be results if alive):
    // every remaining attempt at once.
    const std::size_t end = eligible_end();
    for (std::size_t i = 0; i < end; ++i) {
        LookupCandidate& c = cands_[i];
        if (!retry_due(c)) continue;
        c.state = State::Retrying;
        while (c.attempts < p_.max_attempts) {
            ++c.attempts;
            ++c.outstanding;
            ++queries_;
            out.push_back(c);
        }
    }
    return out;
}

std::size_t Lookup::nearest_answer() const {
    for (std::size_t i = 0; i < cands_.size(); ++i) {
        if (cands_[i].state == State::Answered || cands_[i].state == State::Routed) return i;
    }
    return cands_.size();
}

bool Lookup::window_answered() const {
    std::size_t seen = 0;
    for (const auto& c : cands_) {
        if (seen >= p_.k) break;
        if (out_of_window(c)) continue;
        if (c.state != State::Answered) return false;
        ++seen;
    }
    return true;
}

bool Lookup::on_reply(const NodeId& id, const std::vector<krpc::NodeInfo>& nodes,
                      const std::optional<std::string>& token,
                      const std::optional<krpc::Item>& item, Duration rtt) {
    LookupCandidate* c = find(id);
    if (!c || c->state == State::Answered || c->state == State::Routed) return false;
    c->state = p_.need_token && !token ? State::Routed : State::Answered;
    c->outstanding = std::max(0, c->outstanding - 1);
    if (token) {
        tokens_.push_front(*token);
        c->token = &tokens_.front();
    }
    c->path = c->named_after + rtt;
    const int depth = c->depth;
    const Duration path = c->path;
    if (item && item->seq >= p_.min_seq) {
        c->item_seq = item->seq;
        // The highest seq wins; at equal seq a remote copy replaces our own (found remotely).
        if (!value_ || item->seq > value_->item.seq ||
            (item->seq == value_->item.seq && value_->hops == 0)) {
            value_ = FoundValue{*item, c->id, c->endpoint, depth + 1, path};
        }
    }
    // `c` may move once candidates are inserted; nothing below uses it.
    for (const auto& n : nodes) add(n.id, n.endpoint, depth + 1, path);
    return true;
}

bool Lookup::out_of_window(const LookupCandidate& c) {
    return c.state == State::Failed || c.state == State::Slow || c.state == State::Retrying ||
           c.state == State::Routed;
}

void Lookup::on_soft_timeout(const NodeId& id) {
    LookupCandidate* c = find(id);
    if (!c || (c->state != State::Waiting && c->state != State::Retrying)) return;
    c->state = State::Slow;  // frees the slot; asked again if it still matters
}

void Lookup::on_failed(const NodeId& id, bool final) {
    LookupCandidate* c = find(id);
    if (!c || c->state == State::Answered || c->state == State::Routed) return;
    c->outstanding = std::max(0, c->outstanding - 1);
    if (final || c->outstanding == 0) c->state = State::Failed;
}

bool Lookup::done() const {
    if (p_.stop_at_value && value_ && value_->hops > 0) {
        // Found: wait only for the queries nearer the key than the node that returned it (they
        // hold a newer version if anyone does), not for the rest of the k nearest a converged
        // lookup has in flight.
        for (const auto& c : cands_) {
            if (c.id == value_->from_id) return true;
            if (c.state == State::Waiting) return false;
        }
        return true;
    }
    if (!window_answered()) return false;
    const auto end = cands_.begin() + static_cast<std::ptrdiff_t>(eligible_end());
    if (std::any_of(cands_.begin(), end, [this](const auto& c) { return retry_due(c); })) {
        return false;
    }
    if (std::any_of(cands_.begin(), cands_.end(),
                    [](const auto& c) { return c.state == State::Retrying; })) {
        return false;
    }
    // No answer yet, but queries past their soft timeout may still be answered (until their hard
    // timeout): the path may be slower than every estimate, as when the delay jumps. Ending now
    // would end empty with the answers on their way.
    const bool answered = std::any_of(cands_.begin(), cands_.end(), [](const auto& c) {
        return c.state == State::Answered || c.state == State::Routed;
    });
    const bool outstanding = std::any_of(cands_.begin(), cands_.end(), [](const auto& c) {
        return c.state == State::Slow && c.outstanding > 0;
    });
    return answered || !outstanding;
}

std::vector<const LookupCandidate*> Lookup::results() const {
    std::vector<const LookupCandidate*> out;
    for (const auto& c : cands_) {
        if (out.size() >= p_.k) break;
        if (c.state == State::Answered) out.push_back(&c);
    }
    return out;
}

const LookupCandidate* Lookup::cache_target() const {
    if (!value_) return nullptr;
    for (const auto& c : cands_) {
        if (c.state != State::Answered || !c.token) continue;
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
