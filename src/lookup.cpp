#include "kad/lookup.hpp"

#include <algorithm>

namespace kad {

LookupCandidate* Lookup::find(const NodeId& id) {
    // Distances to the target are distinct for distinct IDs, so the sorted position of an ID is
    // unique: binary search finds it.
    auto it = std::lower_bound(cands_.begin(), cands_.end(), id,
                               [&](const LookupCandidate& c, const NodeId& x) {
                                   return compare_distance(p_.target, c.id, x) < 0;
                               });
    return it != cands_.end() && it->id == id ? &*it : nullptr;
}

void Lookup::add(const NodeId& id, const Endpoint& ep, int depth) {
    if (id == p_.self || ep.is_unusable()) return;
    auto it = std::lower_bound(cands_.begin(), cands_.end(), id,
                               [&](const LookupCandidate& c, const NodeId& x) {
                                   return compare_distance(p_.target, c.id, x) < 0;
                               });
    if (it != cands_.end() && it->id == id) {
        it->depth = std::min(it->depth, depth);
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
    c.endpoint = ep;
    c.depth = depth;
    cands_.insert(it, std::move(c));
}

void Lookup::add_local_value(const krpc::Item& item, const NodeId& self) {
    if (item.seq < p_.min_seq) return;
    if (!value_ || item.seq > value_->item.seq) value_ = FoundValue{item, self, Endpoint{}, 0};
}

bool Lookup::retry_due(const LookupCandidate& c) const {
    return c.state == State::Slow && c.attempts < p_.max_attempts;
}

// Candidates nearer than the k-th that answered: those that belong in the result if alive.
std::size_t Lookup::result_horizon() const {
    std::size_t answered = 0;
    for (std::size_t i = 0; i < cands_.size(); ++i) {
        if (cands_[i].state == State::Answered && ++answered == p_.k) return i;
    }
    return cands_.size();
}

std::size_t Lookup::waiting() const {
    return static_cast<std::size_t>(std::count_if(
        cands_.begin(), cands_.end(), [](const auto& c) { return c.state == State::Waiting; }));
}

std::vector<LookupCandidate> Lookup::next_queries() {
    std::vector<LookupCandidate> out;
    if (p_.stop_at_value && value_ && value_->hops > 0) return out;
    std::size_t busy = waiting();
    std::size_t seen = 0;
    auto ask = [&](LookupCandidate& c) {
        c.state = State::Waiting;
        ++c.attempts;
        ++c.outstanding;
        ++queries_;
        ++busy;
        out.push_back(c);
    };
    for (auto& c : cands_) {
        if (busy >= p_.alpha || seen >= p_.k) break;
        if (out_of_window(c)) continue;
        ++seen;
        if (c.state == State::Fresh) ask(c);
    }
    if (busy > 0 || !window_answered()) return out;
    // Everything in play has answered. Ask again, all at once, the slow candidates that would
    // be among the k results if alive: one lost datagram must not cost a true nearest node.
    const std::size_t horizon = result_horizon();
    for (std::size_t i = 0; i < horizon; ++i) {
        if (retry_due(cands_[i])) ask(cands_[i]);
    }
    return out;
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
                      const std::optional<krpc::Item>& item) {
    LookupCandidate* c = find(id);
    if (!c || c->state == State::Answered || c->state == State::Routed) return false;
    c->state = p_.need_token && !token ? State::Routed : State::Answered;
    c->outstanding = std::max(0, c->outstanding - 1);
    c->token = token;
    const int depth = c->depth;
    if (item && item->seq >= p_.min_seq) {
        c->item_seq = item->seq;
        // The highest seq wins; at equal seq a remote copy replaces our own (found remotely).
        if (!value_ || item->seq > value_->item.seq ||
            (item->seq == value_->item.seq && value_->hops == 0)) {
            value_ = FoundValue{*item, c->id, c->endpoint, depth + 1};
        }
    }
    // `c` may move once candidates are inserted; nothing below uses it.
    for (const auto& n : nodes) add(n.id, n.endpoint, depth + 1);
    return true;
}

bool Lookup::out_of_window(const LookupCandidate& c) {
    return c.state == State::Failed || c.state == State::Slow || c.state == State::Routed;
}

void Lookup::on_soft_timeout(const NodeId& id) {
    LookupCandidate* c = find(id);
    if (!c || c->state != State::Waiting) return;
    c->state = State::Slow;  // frees the slot; asked again at the end if it still matters
}

void Lookup::on_failed(const NodeId& id, bool final) {
    LookupCandidate* c = find(id);
    if (!c || c->state == State::Answered || c->state == State::Routed) return;
    c->outstanding = std::max(0, c->outstanding - 1);
    if (final || c->outstanding == 0) c->state = State::Failed;
}

bool Lookup::done() const {
    const std::size_t busy = waiting();
    if (p_.stop_at_value && value_ && value_->hops > 0) return busy == 0;
    if (busy > 0 || !window_answered()) return false;
    const std::size_t horizon = result_horizon();
    for (std::size_t i = 0; i < horizon; ++i) {
        if (retry_due(cands_[i])) return false;
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

}  // namespace kad
