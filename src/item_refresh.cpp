#include "kad/item_refresh.hpp"

#include <vector>

namespace kad {

ItemRefresh::ItemRefresh(const NodeConfig& config, const TimePoint& now, Storage& items,
                         NodeStats& stats, Actions& actions)
    : config_(config), now_(now), items_(items), stats_(stats), actions_(actions) {
    items_.set_erase_hook([this](const NodeId& target) { due_.forget(target); });
}

Duration ItemRefresh::interval() const {
    return std::chrono::duration_cast<Duration>(config_.item_ttl * config_.publisher_refresh);
}

std::optional<TimePoint> ItemRefresh::due(const NodeId& target) const {
    return due_.due(target);
}

void ItemRefresh::on_published(const NodeId& target) {
    items_.set_published(target, now_);
    due_.schedule(target, now_ + interval());
}

void ItemRefresh::on_restored(const NodeId& target) {
    const StoredItem* item = items_.find(target);
    if (!item || !item->original) return;
    due_.schedule(target, item->published_at + interval());
}

void ItemRefresh::on_unpublished(const NodeId& target) {
    due_.forget(target);
    items_.set_original(target, false);
}

void ItemRefresh::done(const NodeId& target, Outcome outcome) {
    if (running_ > 0) --running_;
    if (outcome == Outcome::Stored) ++stats_.items_refreshed;
    if (outcome == Outcome::Failed) return retry(target);
    if (outcome != Outcome::Superseded) return;
    // Someone holding our key published a newer version: theirs now. Our copy stays until it
    // expires (or the newer one replaces it), but we stop putting ours.
    due_.forget(target);
    items_.set_original(target, false);
    ++stats_.items_superseded;
}

void ItemRefresh::retry(const NodeId& target) {
    if (due_.contains(target)) due_.schedule(target, now_ + kRetry);
}

void ItemRefresh::run() {
    for (const NodeId& target : due_.due_by(now_)) {
        if (running_ >= config_.max_republishes) {
            // Try again a little later rather than at once.
            due_.schedule(target, now_ + config_.republish_check);
            continue;
        }
        const StoredItem* item = items_.find(target);
        if (!item || !item->original) {
            due_.forget(target);
            continue;
        }
        // Rescheduled when the put stores it here again (on_published); until then, not again.
        due_.schedule(target, now_ + interval());
        ++running_;
        if (!actions_.put_again(*item)) --running_;
    }
}

}  // namespace kad
