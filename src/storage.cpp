#include "kad/storage.hpp"

#include <algorithm>
#include <limits>

namespace kad {

bool accepted(StoreResult r) noexcept {
    return r == StoreResult::Stored || r == StoreResult::Updated || r == StoreResult::Refreshed;
}

const char* to_string(StoreResult r) noexcept {
    switch (r) {
        case StoreResult::Stored:
            return "stored";
        case StoreResult::Updated:
            return "updated";
        case StoreResult::Refreshed:
            return "refreshed";
        case StoreResult::SeqTooLow:
            return "sequence number less than current";
        case StoreResult::SeqConflict:
            return "sequence number equal to current, value differs";
        case StoreResult::SeqTooHigh:
            return "sequence number too far above current";
        case StoreResult::SeqInvalid:
            return "sequence number negative";
        case StoreResult::KeyTooLarge:
            return "key too large";
        case StoreResult::ValueTooLarge:
            return "value too large";
        case StoreResult::TooManyItems:
            return "store full (item count)";
        case StoreResult::StorageFull:
            return "store full (bytes)";
        case StoreResult::QuotaExceeded:
            return "quota exceeded: this address holds its share of the store";
    }
    return "?";
}

StoreResult Storage::check_sizes(std::string_view key, std::string_view value) const noexcept {
    if (key.size() > config_.max_key_size) return StoreResult::KeyTooLarge;
    if (value.size() > config_.max_value_size) return StoreResult::ValueTooLarge;
    return StoreResult::Stored;
}

std::string Storage::size_error(std::string_view key, std::string_view value) const {
    auto too_large = [](const char* what, std::size_t size, std::size_t limit) {
        return std::string(what) + " too large (" + std::to_string(size) + " > " +
               std::to_string(limit) + " bytes)";
    };
    switch (check_sizes(key, value)) {
        case StoreResult::KeyTooLarge:
            return too_large("key", key.size(), config_.max_key_size);
        case StoreResult::ValueTooLarge:
            return too_large("value", value.size(), config_.max_value_size);
        default:
            return {};
    }
}

void Storage::set_expiry(StoredItem& item, TimePoint expires) {
    account(item, false);
    by_expiry_.erase({item.expires, item.target});
    item.expires = expires;
    by_expiry_.insert({item.expires, item.target});
    account(item, true);
}

namespace {

bool counted(const Endpoint& source) {
    return !source.is_unspecified();
}

}  // namespace

std::size_t Storage::source_item_limit() const noexcept {
    return std::max<std::size_t>(
        1, static_cast<std::size_t>(config_.max_share * static_cast<double>(config_.max_items)));
}

std::size_t Storage::source_byte_limit() const noexcept {
    return std::max<std::size_t>(
        1, static_cast<std::size_t>(config_.max_share * static_cast<double>(config_.max_bytes)));
}

const Storage::Usage* Storage::usage(const Endpoint& source) const {
    auto it = usage_.find(source_key(source));
    return it == usage_.end() ? nullptr : &it->second;
}

void Storage::account(const StoredItem& item, bool add) {
    if (!counted(item.source)) return;
    const Endpoint key = source_key(item.source);
    Usage& u = usage_[key];
    by_items_.erase({u.items, key});
    const std::size_t size = item.key.size() + item.value.size();
    if (add) {
        ++u.items;
        u.bytes += size;
        u.by_expiry.insert({item.expires, item.target});
    } else {
        --u.items;
        u.bytes -= size;
        u.by_expiry.erase({item.expires, item.target});
    }
    if (u.items == 0) {
        usage_.erase(key);
    } else {
        by_items_.insert({u.items, key});
    }
}

bool Storage::make_room(const Endpoint& source, std::size_t bytes, bool new_item) {
    const Endpoint key = counted(source) ? source_key(source) : Endpoint{};
    const Usage* mine = counted(source) ? usage(source) : nullptr;
    while ((new_item && items_.size() >= config_.max_items) || bytes_ + bytes > config_.max_bytes) {
        if (by_items_.empty()) return false;
        const auto [items, heaviest] = *by_items_.rbegin();
        // The source holding the most is refused first; so is anyone holding as much.
        if (heaviest == key || (mine && mine->items >= items)) return false;
        const NodeId victim = usage_.at(heaviest).by_expiry.begin()->second;
        erase(victim);
        ++evicted_;
    }
    return true;
}

Duration Storage::life_of(const std::optional<Duration>& ttl) const {
    Duration life = ttl.value_or(config_.default_ttl);
    if (life <= Duration::zero()) life = config_.default_ttl;
    return std::min(life, config_.max_ttl);
}

StoreResult Storage::store(TimePoint now, const Write& w) {
    if (auto sizes = check_sizes(w.key, w.value); sizes != StoreResult::Stored) return sizes;
    if (w.seq < 0) return StoreResult::SeqInvalid;
    const NodeId target = w.target ? *w.target : NodeId::from_key(w.key);
    const Duration life = life_of(w.ttl);
    if (auto it = items_.find(target); it != items_.end()) {
        return update(now, it->second, w, life);
    }
    if (w.seq > config_.max_new_seq) return StoreResult::SeqTooHigh;
    return insert(now, target, w, life);
}

std::int64_t Storage::max_seq_for(std::int64_t current) const noexcept {
    const std::int64_t base = std::max<std::int64_t>(current, 0);
    const std::int64_t step = std::max<std::int64_t>(config_.max_seq_step, 1);
    return base > std::numeric_limits<std::int64_t>::max() - step
               ? std::numeric_limits<std::int64_t>::max()
               : base + step;
}

StoreResult Storage::update(TimePoint now, StoredItem& item, const Write& w, Duration life) {
    if (w.seq < item.seq) return StoreResult::SeqTooLow;
    if (w.seq > max_seq_for(item.seq)) return StoreResult::SeqTooHigh;
    if (w.seq == item.seq && w.value != item.value) return StoreResult::SeqConflict;
    StoreResult result = StoreResult::Refreshed;
    const bool newer = w.seq > item.seq;
    if (newer) {
        if (auto refused = replace(item, w)) return *refused;
        result = StoreResult::Updated;
    }
    // Never shorten a life someone else gave it (a refresh with a shorter TTL).
    if (now + life > item.expires) {
        set_expiry(item, now + life);
        item.ttl = life;
    }
    item.stored_at = now;
    // A new version is its writer's: ours only if we wrote it. Another writer's newer version
    // is not ours to keep alive (nor is a refresh of ours by someone else a reason to drop it).
    const bool taken = newer && item.original && !w.ours;
    item.original = newer ? w.ours : item.original || w.ours;
    changed(item.target, &item);
    if (taken && superseded_) superseded_(item);
    return result;
}

std::optional<StoreResult> Storage::replace(StoredItem& item, const Write& w) {
    // A new version belongs to whoever wrote it: it counts against that source's share.
    const Usage* mine = counted(w.source) ? usage(w.source) : nullptr;
    const bool same = counted(w.source) && counted(item.source) &&
                      source_key(w.source) == source_key(item.source);
    const std::size_t old_size = item.key.size() + item.value.size();
    const std::size_t new_size = w.key.size() + w.value.size();
    if (mine) {
        const std::size_t items = mine->items + (same ? 0 : 1);
        const std::size_t bytes = mine->bytes - (same ? old_size : 0) + new_size;
        if (items > source_item_limit() || bytes > source_byte_limit()) {
            return StoreResult::QuotaExceeded;
        }
    }
    if (new_size > old_size && !make_room(w.source, new_size - old_size, false)) {
        return StoreResult::StorageFull;
    }
    account(item, false);
    bytes_ = bytes_ - item.value.size() + w.value.size();
    item.value = std::string(w.value);
    item.seq = w.seq;
    item.signature = std::string(w.signature);
    item.source = w.source;
    account(item, true);
    return std::nullopt;
}

StoreResult Storage::insert(TimePoint now, const NodeId& target, const Write& w, Duration life) {
    const std::size_t size = w.key.size() + w.value.size();
    const Usage* mine = counted(w.source) ? usage(w.source) : nullptr;
    if (mine &&
        (mine->items + 1 > source_item_limit() || mine->bytes + size > source_byte_limit())) {
        return StoreResult::QuotaExceeded;
    }
    if (items_.size() >= config_.max_items && !make_room(w.source, size, true)) {
        return StoreResult::TooManyItems;
    }
    if (bytes_ + size > config_.max_bytes && !make_room(w.source, size, true)) {
        return StoreResult::StorageFull;
    }
    StoredItem item;
    item.key = std::string(w.key);
    item.target = target;
    item.value = std::string(w.value);
    item.seq = w.seq;
    item.signature = std::string(w.signature);
    item.expires = now + life;
    item.stored_at = now;
    item.ttl = life;
    item.original = w.ours;
    item.published_at = now;
    item.source = w.source;
    bytes_ += size;
    by_expiry_.insert({item.expires, target});
    account(item, true);
    const auto placed = items_.emplace(target, std::move(item)).first;
    changed(target, &placed->second);
    return StoreResult::Stored;
}

StoreResult Storage::restore(StoredItem item, std::optional<NodeId> at) {
    if (auto sizes = check_sizes(item.key, item.value); sizes != StoreResult::Stored) return sizes;
    if (item.seq < 0) return StoreResult::SeqInvalid;
    item.target = at ? *at : NodeId::from_key(item.key);
    if (auto it = items_.find(item.target); it != items_.end()) {
        if (item.seq < it->second.seq) return StoreResult::SeqTooLow;
        erase(item.target);
    }
    if (items_.size() >= config_.max_items) return StoreResult::TooManyItems;
    if (bytes_ + item.key.size() + item.value.size() > config_.max_bytes) {
        return StoreResult::StorageFull;
    }
    bytes_ += item.key.size() + item.value.size();
    by_expiry_.insert({item.expires, item.target});
    account(item, true);
    const NodeId target = item.target;
    const auto placed = items_.insert_or_assign(target, std::move(item)).first;
    changed(target, &placed->second);
    return StoreResult::Stored;
}

void Storage::set_published(const NodeId& target, TimePoint at) {
    if (auto it = items_.find(target); it != items_.end()) {
        it->second.original = true;
        it->second.published_at = at;
        changed(target, &it->second);
    }
}

void Storage::set_original(const NodeId& target, bool original) {
    if (auto it = items_.find(target); it != items_.end() && it->second.original != original) {
        it->second.original = original;
        changed(target, &it->second);
    }
}

const StoredItem* Storage::find(const NodeId& target) const {
    auto it = items_.find(target);
    return it == items_.end() ? nullptr : &it->second;
}

bool Storage::erase(const NodeId& which) {
    const NodeId target = which;  // `which` may live in by_expiry_, erased below
    auto it = items_.find(target);
    if (it == items_.end()) return false;
    by_expiry_.erase({it->second.expires, target});
    account(it->second, false);
    bytes_ -= it->second.key.size() + it->second.value.size();
    items_.erase(it);
    changed(target, nullptr);
    if (erased_) erased_(target);
    return true;
}

void Storage::changed(const NodeId& target, const StoredItem* item) {
    ++changes_;
    if (changed_) changed_(target, item);
}

std::size_t Storage::expire(TimePoint now) {
    std::size_t removed = 0;
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
        erase(by_expiry_.begin()->second);
        ++removed;
    }
    return removed;
}

TimePoint Storage::next_expiry() const noexcept {
    return by_expiry_.empty() ? TimePoint::max() : by_expiry_.begin()->first;
}

}  // namespace kad
