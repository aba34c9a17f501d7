#include "kad/maintenance.hpp"

#include <algorithm>

namespace kad {

Maintenance::Maintenance(const NodeConfig& config, const TimePoint& now, RoutingTable& table,
                         Storage& storage, RandomSource& rng, NodeStats& stats, Actions& actions)
    : config_(config),
      now_(now),
      table_(table),
      storage_(storage),
      rng_(rng),
      stats_(stats),
      actions_(actions) {
    storage_.set_erase_hook([this](const NodeId& target) { due_.forget(target); });
}

// ---- the schedule ---------------------------------------------------------------------------

std::optional<TimePoint> Maintenance::due(const NodeId& target) const {
    return due_.due(target);
}

Duration Maintenance::jittered_interval() {
    // Holders of one item got it at about the same time: a spread of 10% lets the first to
    // republish refresh the others, which then skip theirs.
    const double f = 1.0 + 0.1 * rng_.uniform_real();
    return std::chrono::duration_cast<Duration>(config_.republish_interval * f);
}

TimePoint Maintenance::publisher_due(const StoredItem& item) const {
    return item.published_at +
           std::chrono::duration_cast<Duration>(item.ttl * config_.publisher_refresh);
}

TimePoint Maintenance::next_due() const {
    TimePoint t = std::min(
        {table_.next_refresh(config_.bucket_refresh), next_recheck(), next_early_refresh()});
    if (!due_.empty()) t = std::min(t, std::max(due_.next(), next_scan_));
    return t;
}

namespace {

// Rechecks are looked for at most this often: a busy node counts failures all the time.
constexpr Duration kRecheckGap = std::chrono::seconds(1);

}  // namespace

TimePoint Maintenance::next_recheck() const {
    // A new failure may make a contact due at once (one that had answered long ago).
    if (table_.failures_counted() != failures_seen_) {
        return std::min(recheck_due_, last_recheck_ + kRecheckGap);
    }
    return recheck_due_;
}

TimePoint Maintenance::next_early_refresh() const {
    if (table_.recoveries() == recoveries_seen_) return TimePoint::max();
    return early_allowed_;
}

// ---- what the node tells it -------------------------------------------------------------------

void Maintenance::on_stored(const NodeId& target) {
    const StoredItem* item = storage_.find(target);
    if (!item || item->original) return;  // ours: refreshed on our own schedule
    due_.schedule(target, now_ + jittered_interval());
}

void Maintenance::on_published(const NodeId& target) {
    storage_.set_published(target, now_);
    if (const StoredItem* item = storage_.find(target)) due_.schedule(target, publisher_due(*item));
}

void Maintenance::on_unpublished(const NodeId& target) {
    const StoredItem* item = storage_.find(target);
    if (!item || item->original) return;
    due_.schedule(target, now_ + jittered_interval());
}

void Maintenance::on_restored(const NodeId& target) {
    const StoredItem* item = storage_.find(target);
    if (!item) return;
    due_.schedule(target, item->original ? publisher_due(*item) : now_ + jittered_interval());
}

void Maintenance::republish_done(const NodeId& target, std::size_t stored, bool displaced) {
    if (republishing_ > 0) --republishing_;
    stats_.republish_stores += stored;
    const StoredItem* item = storage_.find(target);
    if (displaced && item && !item->original && due_.contains(target)) {
        // Nearer nodes have joined: we are no longer among the k nearest. They have the item
        // now; we keep our copy until it expires, but stop republishing it.
        due_.forget(target);
        ++stats_.republish_retired;
    }
}

void Maintenance::hand_off_done(bool stored) {
    if (handoffs_ > 0) --handoffs_;
    if (stored) ++stats_.handoff_stores;
}

void Maintenance::on_new_contact(const NodeId& id, const Endpoint& ep) {
    if (!config_.handoff || storage_.size() == 0) return;
    // Items for which the newcomer is now among the k nearest, when we are the nearest holder
    // we know of (every other contact is farther from the key than we are).
    std::vector<NodeId> targets;
    for (const auto& [target, item] : storage_.items()) {
        if (!table_.self_is_nearest(target, id)) continue;  // cheap: one bucket
        table_.closest(target, config_.k, closest_);
        if (std::any_of(closest_.begin(), closest_.end(),
                        [&](const Contact* c) { return c->id == id; })) {
            targets.push_back(target);
        }
    }
    for (const NodeId& target : targets) {
        const StoredItem* item = storage_.find(target);  // found again: the work may change it
        if (!item) continue;
        if (handoffs_ >= config_.max_handoffs) {
            ++stats_.handoffs_skipped;
            continue;
        }
        ++handoffs_;
        ++stats_.handoffs;
        actions_.hand_off(*item, item->expires - now_, id, ep);
    }
}

// ---- time ---------------------------------------------------------------------------------------

void Maintenance::run() {
    if (!due_.empty() && now_ >= std::max(due_.next(), next_scan_)) republish_due();
    if (now_ >= next_early_refresh()) refresh_early();
    if (now_ >= table_.next_refresh(config_.bucket_refresh)) refresh_buckets();
    if (now_ >= next_recheck()) recheck();
}

void Maintenance::recheck() {
    failures_seen_ = table_.failures_counted();
    last_recheck_ = now_;
    pings_.clear();
    // Never due again at once: a contact whose ping is pending is due when it ends.
    recheck_due_ = std::max(table_.recheck(now_, pings_), now_ + kRecheckGap);
    for (const PingRequest& p : pings_) {
        ++stats_.rechecks;
        actions_.ping(p);
    }
}

void Maintenance::refresh_early() {
    // A contact cut off for a while answers again: the network it was cut off with may be back.
    // Our own ID, and every bucket not full, are looked up now rather than within the hour.
    recoveries_seen_ = table_.recoveries();
    if (early_gap_ == Duration{} || now_ >= early_allowed_ + early_gap_) {
        early_gap_ = config_.recovery_refresh;  // the first, or the first after a quiet spell
    }
    early_allowed_ = now_ + early_gap_;
    early_gap_ = std::min(early_gap_ * 2, config_.bucket_refresh);
    ++stats_.early_refreshes;
    std::vector<NodeId> targets{table_.self()};
    for (std::size_t i = 0; i + 1 < table_.bucket_count(); ++i) {
        if (table_.bucket(i).contacts().size() < config_.k) {
            targets.push_back(table_.random_id_in_bucket(i, rng_));
        }
    }
    for (const NodeId& target : targets) {
        table_.touch(target, now_);
        if (actions_.refresh(target)) ++stats_.bucket_refreshes;
    }
}

void Maintenance::refresh_buckets() {
    for (std::size_t i : table_.buckets_due(now_, config_.bucket_refresh)) {
        const NodeId target = table_.random_id_in_bucket(i, rng_);
        table_.touch(target, now_);
        if (table_.size() == 0) continue;  // nobody to ask; try again next interval
        if (actions_.refresh(target)) ++stats_.bucket_refreshes;
    }
}

void Maintenance::republish_due() {
    const std::vector<NodeId> due = due_.due_by(now_);
    std::size_t started = 0;
    for (const NodeId& target : due) {
        if (republishing_ >= config_.max_republishes) break;
        republish(target);  // moves its time on, or retires it
        ++started;
    }
    // Wake when the next item is due: holders of one item are then woken at their own
    // (jittered) times, and the first to republish refreshes the others before theirs.
    stats_.republishes_deferred += due.size() - started;
    next_scan_ = now_ + config_.republish_check;
}

void Maintenance::republish(const NodeId& target) {
    const StoredItem* item = storage_.find(target);
    if (!item) return due_.forget(target);
    Duration ttl = item->ttl;
    if (item->original) {
        // The publisher keeps its item alive: a fresh life everywhere, its own copy included.
        storage_.store(
            now_,
            {.key = item->key, .value = item->value, .seq = item->seq, .ttl = ttl, .ours = true});
        on_published(target);
        ++stats_.refreshed_originals;
        item = storage_.find(target);  // the store above wrote it
    } else {
        if (table_.count_nearer_than_self(target) >= config_.k) {
            // We know k nodes nearer the key: they hold it (a hand-off or their own republish
            // saw to that). Keep the copy until it expires; republishing is theirs now.
            due_.forget(target);
            ++stats_.republish_retired;
            return;
        }
        // A holder keeps the replicas where they belong, with the life the item has left.
        ttl = item->expires - now_;
        if (ttl <= Duration::zero()) return due_.forget(target);
        due_.schedule(target, now_ + jittered_interval());
        ++stats_.republished;
    }
    ++republishing_;
    if (!actions_.republish(*item, ttl)) --republishing_;
}

}  // namespace kad
