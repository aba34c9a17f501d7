#include "kad/watches.hpp"

#include <algorithm>

namespace kad {

std::optional<WatchId> Watches::add(std::string key, std::string tag, Callback<WatchEvent> on_event,
                                    TimePoint now) {
    if (watches_.size() >= max_) return std::nullopt;
    const WatchId id = next_id_++;
    const NodeId target = NodeId::from_key(key);
    watches_.emplace(id, Watch{std::move(key),
                               std::move(tag),
                               target,
                               std::move(on_event),
                               std::nullopt,
                               now,
                               false,
                               {}});
    return id;
}

bool Watches::remove(WatchId id) {
    std::erase_if(pending_, [id](const WatchEvent& e) { return e.id == id; });
    return watches_.erase(id) > 0;
}

std::vector<Watches::Due> Watches::take_due(TimePoint now) {
    std::vector<Due> due;
    for (auto& [id, w] : watches_) {
        if (w.polling || w.next > now) continue;
        w.polling = true;
        due.push_back({id, w.key, w.tag, w.reported});
    }
    return due;
}

void Watches::asked(WatchId id, const std::vector<krpc::NodeInfo>& holders, TimePoint now,
                    Duration listen_for) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    auto& known = it->second.holders;
    std::erase_if(known, [now](const auto& h) { return h.second <= now; });
    for (const krpc::NodeInfo& n : holders) {
        auto h = std::find_if(known.begin(), known.end(),
                              [&](const auto& e) { return e.first == n.endpoint; });
        if (h != known.end()) {
            h->second = now + listen_for;
        } else {
            known.emplace_back(n.endpoint, now + listen_for);
        }
    }
}

void Watches::polled(WatchId id, const WatchRoundResult& r, TimePoint now) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;  // unwatched while its round ran
    Watch& w = it->second;
    w.polling = false;
    w.next = now + interval_;
    // Those asked that did not take the listen (refused, silent) tell us nothing.
    std::erase_if(w.holders, [&](const auto& h) {
        const auto is = [&](const krpc::NodeInfo& n) { return n.endpoint == h.first; };
        return std::any_of(r.asked.begin(), r.asked.end(), is) &&
               std::none_of(r.listening.begin(), r.listening.end(), is);
    });
    if (r.ok && r.item) offer(id, w, *r.item, r.from, r.here);
}

bool Watches::notified(const krpc::NodeInfo& holder, const std::string& tag, const krpc::Item& item,
                       TimePoint now) {
    const NodeId target = NodeId::from_key(item.key);
    bool listened = false;
    for (auto& [id, w] : watches_) {
        if (w.target != target || w.tag != tag) continue;
        const bool from_holder = std::any_of(
            w.holders.begin(), w.holders.end(),
            [&](const auto& h) { return h.first == holder.endpoint && h.second > now; });
        if (!from_holder) continue;
        listened = true;
        queue(id, w, item, holder, false);
    }
    return listened;
}

void Watches::stored(const StoredItem& item, const krpc::NodeInfo& self) {
    for (auto& [id, w] : watches_) {
        if (w.target == item.target) queue(id, w, {item.key, item.value, item.seq}, self, true);
    }
}

bool Watches::take_if_newer(Watch& w, std::int64_t seq) {
    if (w.reported && seq <= *w.reported) return false;
    w.reported = seq;
    return true;
}

void Watches::queue(WatchId id, Watch& w, const krpc::Item& item, const krpc::NodeInfo& from,
                    bool here) {
    // Counted as reported now, so that a round ending before deliver() does not report it again.
    if (take_if_newer(w, item.seq)) pending_.push_back({id, item, from, here, !here});
}

std::size_t Watches::listening(WatchId id, TimePoint now) const {
    auto it = watches_.find(id);
    if (it == watches_.end()) return 0;
    return static_cast<std::size_t>(std::count_if(it->second.holders.begin(),
                                                  it->second.holders.end(),
                                                  [now](const auto& h) { return h.second > now; }));
}

void Watches::deliver() {
    auto events = std::exchange(pending_, {});
    for (const auto& e : events) {
        auto it = watches_.find(e.id);
        if (it == watches_.end()) continue;
        auto on_event = it->second.on_event;  // the callback may unwatch
        if (on_event) on_event(e);
    }
}

void Watches::offer(WatchId id, Watch& w, const krpc::Item& item, const krpc::NodeInfo& from,
                    bool here) {
    if (!take_if_newer(w, item.seq)) return;
    auto on_event = w.on_event;  // the callback may unwatch
    if (on_event) on_event({id, item, from, here, false});
}

TimePoint Watches::next_due() const {
    if (!pending_.empty()) return TimePoint::min();
    TimePoint t = TimePoint::max();
    for (const auto& [id, w] : watches_) {
        if (!w.polling) t = std::min(t, w.next);
    }
    return t;
}

const std::string* Watches::key(WatchId id) const {
    auto it = watches_.find(id);
    return it == watches_.end() ? nullptr : &it->second.key;
}

}  // namespace kad
