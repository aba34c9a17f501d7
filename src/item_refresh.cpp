#include "kad/item_refresh.hpp"

#include <vector>

namespace kad {

ItemRefresh::ItemRefresh(const NodeConfig& config, const TimePoint& now, Storage& items,
                         NodeStats& stats, Actions& actions)
    : config_(config), now_(now), items_(items), stats_(stats), actions_(actions) {
    items_.set_erase_hook([this](const NodeId& target) { forget(target); });
}

void ItemRefresh::schedule(const NodeId& target, TimePoint at) {
    auto [it, added] = due_.try_emplace(target, at);
    if (!added) {
        by_due_.erase({it->second, target});
        it->second = at;
    }
    by_due_.insert({at, target});
}

void ItemRefresh::forget(const NodeId& target) {
    auto it = due_.find(target);
    if (it == due_.end()) return;
    by_due_.erase({it->second, target});
    due_.erase(it);
}

std::optional<TimePoint> ItemRefresh::due(const NodeId& target) const {
    auto it = due_.find(target);
    if (it == due_.end()) return std::nullopt;
    return it->second;
}

TimePoint ItemRefresh::next_due() const {
    return by_due_.empty() ? TimePoint::max() : by_due_.begin()->first;
}

void ItemRefresh::on_published(const NodeId& target) {
    items_.set_published(target, now_);
    schedule(target, now_ + std::chrono::duration_cast<Duration>(config_.item_ttl *
                                                                 config_.publisher_refresh));
}

void ItemRefresh::on_restored(const NodeId& target) {
    const StoredItem* item = items_.find(target);
    if (!item || !item->original) return;
    schedule(target, item->published_at + std::chrono::duration_cast<Duration>(
                                              config_.item_ttl * config_.publisher_refresh));
}

void ItemRefresh::done(const NodeId& target, Outcome outcome) {
    if (running_ > 0) --running_;
    if (outcome == Outcome::Failed) return retry(target);
    if (outcome != Outcome::Superseded) return;
    // Someone holding our key published a newer version: theirs now. Our copy stays until it
    // expires (or the newer one replaces it), but we stop putting ours.
    forget(target);
    items_.set_original(target, false);
    ++stats_.items_superseded;
}

void ItemRefresh::retry(const NodeId& target) {
    if (due_.contains(target)) schedule(target, now_ + kRetry);
}

void ItemRefresh::run() {
    std::vector<NodeId> due;
    for (auto it = by_due_.begin(); it != by_due_.end() && it->first <= now_; ++it) {
        due.push_back(it->second);
    }
    for (const NodeId& target : due) {
        if (running_ >= config_.max_republishes) {
            // Try again a little later rather than at once.
            schedule(target, now_ + config_.republish_check);
            continue;
        }
        const StoredItem* item = items_.find(target);
        if (!item || !item->original) {
            forget(target);
            continue;
        }
        // Rescheduled when the put stores it here again (on_published); until then, not again.
        schedule(target, now_ + std::chrono::duration_cast<Duration>(config_.item_ttl *
                                                                     config_.publisher_refresh));
        ++running_;
        ++stats_.items_refreshed;
        if (!actions_.put_again(*item)) --running_;
    }
}

}  // namespace kad
