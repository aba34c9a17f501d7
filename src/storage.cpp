#include "kad/storage.hpp"

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
        case StoreResult::KeyTooLarge:
            return "key too large";
        case StoreResult::ValueTooLarge:
            return "value too large";
        case StoreResult::TooManyItems:
            return "store full (item count)";
        case StoreResult::StorageFull:
            return "store full (bytes)";
    }
    return "?";
}

StoreResult Storage::check_sizes(std::string_view key, std::string_view value) const noexcept {
    if (key.size() > config_.max_key_size) return StoreResult::KeyTooLarge;
    if (value.size() > config_.max_value_size) return StoreResult::ValueTooLarge;
    return StoreResult::Stored;
}

void Storage::set_expiry(StoredItem& item, TimePoint expires) {
    by_expiry_.erase({item.expires, item.target});
    item.expires = expires;
    by_expiry_.insert({item.expires, item.target});
}

StoreResult Storage::store(TimePoint now, std::string_view key, std::string_view value,
                           std::int64_t seq, std::optional<Duration> ttl, bool original,
                           const Endpoint& source) {
    if (auto sizes = check_sizes(key, value); sizes != StoreResult::Stored) return sizes;
    Duration life = ttl.value_or(config_.default_ttl);
    if (life <= Duration::zero()) life = config_.default_ttl;
    if (life > config_.max_ttl) life = config_.max_ttl;
    const NodeId target = NodeId::from_key(key);

    if (auto it = items_.find(target); it != items_.end()) {
        StoredItem& item = it->second;
        if (seq < item.seq) return StoreResult::SeqTooLow;
        if (seq == item.seq && value != item.value) return StoreResult::SeqConflict;
        StoreResult result = StoreResult::Refreshed;
        if (seq > item.seq) {
            const std::size_t new_bytes = bytes_ - item.value.size() + value.size();
            if (new_bytes > config_.max_bytes) return StoreResult::StorageFull;
            bytes_ = new_bytes;
            item.value = std::string(value);
            item.seq = seq;
            result = StoreResult::Updated;
        }
        // Never shorten a life someone else gave it (a refresh with a shorter TTL).
        if (now + life > item.expires) {
            set_expiry(item, now + life);
            item.ttl = life;
        }
        item.stored_at = now;
        item.original = item.original || original;
        item.source = source;
        ++changes_;
        return result;
    }

    if (items_.size() >= config_.max_items) return StoreResult::TooManyItems;
    if (bytes_ + key.size() + value.size() > config_.max_bytes) return StoreResult::StorageFull;
    StoredItem item;
    item.key = std::string(key);
    item.target = target;
    item.value = std::string(value);
    item.seq = seq;
    item.expires = now + life;
    item.stored_at = now;
    item.ttl = life;
    item.original = original;
    item.published_at = now;
    item.republish_at = now;
    item.source = source;
    bytes_ += key.size() + value.size();
    ++changes_;
    by_expiry_.insert({item.expires, target});
    items_.emplace(target, std::move(item));
    return StoreResult::Stored;
}

StoreResult Storage::restore(StoredItem item) {
    if (auto sizes = check_sizes(item.key, item.value); sizes != StoreResult::Stored) return sizes;
    item.target = NodeId::from_key(item.key);
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
    const NodeId target = item.target;
    items_.insert_or_assign(target, std::move(item));
    ++changes_;
    return StoreResult::Stored;
}

void Storage::set_republish_at(const NodeId& target, TimePoint at) {
    if (auto it = items_.find(target); it != items_.end()) it->second.republish_at = at;
}

void Storage::set_published(const NodeId& target, TimePoint at) {
    if (auto it = items_.find(target); it != items_.end()) {
        it->second.original = true;
        it->second.published_at = at;
        ++changes_;
    }
}

const StoredItem* Storage::find(const NodeId& target) const {
    auto it = items_.find(target);
    return it == items_.end() ? nullptr : &it->second;
}

bool Storage::erase(const NodeId& target) {
    auto it = items_.find(target);
    if (it == items_.end()) return false;
    by_expiry_.erase({it->second.expires, target});
    bytes_ -= it->second.key.size() + it->second.value.size();
    items_.erase(it);
    ++changes_;
    return true;
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
