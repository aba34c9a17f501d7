#pragma once
// The node's key/value store: items keyed by target = SHA-1(key), each with a sequence number and
// an expiry. A higher seq replaces a lower one; a lower one is refused (KRPC error 302). Limits on
// key size, value size, item count and total bytes each refuse with their own reason. Time is
// passed in; nothing here reads a clock.

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "kad/endpoint.hpp"
#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

struct StorageConfig {
    std::size_t max_key_size = 256;
    std::size_t max_value_size = 1000;
    std::size_t max_items = 100'000;
    std::size_t max_bytes = std::size_t{64} * 1024 * 1024;  // keys + values
    Duration default_ttl = std::chrono::hours(24);
    Duration max_ttl = std::chrono::hours(24 * 7);
    // The share of max_items and of max_bytes that one source (kad::source_key) may hold. Our
    // own items (no source) are not counted. When the store is full, the source holding the most
    // loses first: its items make room for others', and its own new items are refused.
    double max_share = 0.25;
    // How far one write may raise the seq of a key this node holds. Without a bound, one store
    // of the largest seq makes the key unwritable for its life; with it, reaching the top from
    // max_new_seq takes 2^62 / max_seq_step stores (4.4 million million by default: 7 years at
    // the node's whole rate limit). docs/SECURITY.md.
    std::int64_t max_seq_step = std::int64_t{1} << 20;
    // The highest seq a key this node does not hold may arrive with: half the range, so that a
    // version moving to a new holder (republish, hand-off, a put) keeps any seq a writer could
    // reach (Unix milliseconds included), while a stranger's store still leaves 2^42 steps to
    // the top.
    std::int64_t max_new_seq = std::int64_t{1} << 62;
};

struct StoredItem {
    std::string key;
    NodeId target;
    std::string value;
    std::int64_t seq = 0;
    TimePoint expires{};
    TimePoint stored_at{};     // last time a store (or our own put) wrote or refreshed it
    Duration ttl{};            // the life asked for by the write that last set `expires`
    bool original = false;     // we are the original publisher
    TimePoint published_at{};  // original: when we last published it
    // Who wrote this version (seq); a refresh does not change it. It counts against that
    // source's share (StorageConfig::max_share). Ourselves: unspecified.
    Endpoint source;
    // BEP 44 mutable items: the signature of this version (the key is the public key and the
    // salt, the value the bencoded "v"). Empty otherwise.
    std::string signature;
};

enum class StoreResult : std::uint8_t {
    Stored,       // new item
    Updated,      // replaced a lower seq
    Refreshed,    // same seq and value: expiry extended
    SeqTooLow,    // seq lower than the stored one
    SeqConflict,  // same seq, different value
    SeqTooHigh,   // more than max_seq_step above the stored one (a new key: above max_new_seq)
    SeqInvalid,   // negative (a damaged or forged state file)
    KeyTooLarge,
    ValueTooLarge,
    TooManyItems,
    StorageFull,    // total bytes
    QuotaExceeded,  // the source already holds its share
};

bool accepted(StoreResult r) noexcept;
const char* to_string(StoreResult r) noexcept;

class Storage {
public:
    using Map = std::unordered_map<NodeId, StoredItem>;

    explicit Storage(StorageConfig config = {}) : config_(config) {}

    const StorageConfig& config() const noexcept { return config_; }

    // One version of an item, as a store or our own put writes it.
    struct Write {
        std::string_view key{};
        std::string_view value{};
        std::int64_t seq = 0;
        std::optional<Duration> ttl{};  // nullopt or not positive: the default; clamped to max_ttl
        bool ours = false;              // our own put: we are the original publisher
        Endpoint source{};              // who wrote it (unspecified: ourselves); see max_share
        // Where it is kept, if not at SHA-1(key) (BEP 44 immutable items: SHA-1 of the value).
        std::optional<NodeId> target{};
        std::string_view signature{};  // BEP 44 mutable items: kept with the version
    };
    StoreResult store(TimePoint now, const Write& w);
    // The highest seq a write may bring over a version at `current` (config().max_seq_step).
    std::int64_t max_seq_for(std::int64_t current) const noexcept;
    // Checks that store() would not refuse for size (key, value) — the cheap checks a node makes
    // before anything else.
    StoreResult check_sizes(std::string_view key, std::string_view value) const noexcept;
    // The same check in words, with the sizes: "value too large (3000 > 1000 bytes)"; empty if
    // the sizes are within the limits.
    std::string size_error(std::string_view key, std::string_view value) const;

    // Puts back an item as it was saved (persistence), keeping its expiry and flags, at `at`
    // (BEP 44 items), or SHA-1 of its key. Refused like store() for size and limits, or if an
    // item with a higher seq is already there.
    StoreResult restore(StoredItem item, std::optional<NodeId> at = std::nullopt);
    void set_published(const NodeId& target, TimePoint at);
    void set_original(const NodeId& target, bool original);

    const StoredItem* find(const NodeId& target) const;
    bool erase(const NodeId& target);
    // Called with the target of every item that leaves the store (erased, expired, evicted), so
    // that whoever keeps a schedule per item (kad::Maintenance) can forget it.
    void set_erase_hook(std::function<void(const NodeId&)> hook) { erased_ = std::move(hook); }
    // Called after every change to an item, with the item as it now is (nullptr: it left the
    // store), before the write that made it returns: whoever keeps a journal of the store
    // (kad::Journal) writes it there, so that nothing is acknowledged before it is kept.
    using ChangeHook = std::function<void(const NodeId& target, const StoredItem* item)>;
    void set_change_hook(ChangeHook hook) { changed_ = std::move(hook); }
    // Called when a version we published (original) is replaced by another writer's newer one:
    // the item is theirs from then on, and we stop keeping it alive.
    void set_superseded_hook(std::function<void(const StoredItem&)> hook) {
        superseded_ = std::move(hook);
    }
    // Removes every item whose expiry is at or before now. Returns how many.
    std::size_t expire(TimePoint now);
    TimePoint next_expiry() const noexcept;

    std::size_t size() const noexcept { return items_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }
    // Counts every change to the items: whoever saves them can tell whether anything changed.
    std::uint64_t changes() const noexcept { return changes_; }
    const Map& items() const noexcept { return items_; }

    // What one source holds (items whose last store came from it).
    struct Usage {
        std::size_t items = 0;
        std::size_t bytes = 0;
        std::set<std::pair<TimePoint, NodeId>> by_expiry;  // its items, soonest to expire first
    };
    const Usage* usage(const Endpoint& source) const;
    std::size_t sources() const noexcept { return usage_.size(); }
    std::size_t source_item_limit() const noexcept;
    std::size_t source_byte_limit() const noexcept;
    // Items removed to make room for another source's (see max_share).
    std::uint64_t evicted() const noexcept { return evicted_; }

private:
    // The life a write asks for, as the limits allow.
    Duration life_of(const std::optional<Duration>& ttl) const;
    StoreResult update(TimePoint now, StoredItem& item, const Write& w, Duration life);
    // A higher seq replaces the value; the refusal, if the source's share or the store is full.
    std::optional<StoreResult> replace(StoredItem& item, const Write& w);
    StoreResult insert(TimePoint now, const NodeId& target, const Write& w, Duration life);
    void set_expiry(StoredItem& item, TimePoint expires);
    void account(const StoredItem& item, bool add);
    // Makes room for `bytes` more (and one more item if `new_item`) for `source` by evicting the
    // heaviest source's items, if that source is not `source`. False if it cannot.
    bool make_room(const Endpoint& source, std::size_t bytes, bool new_item);
    // Counts a change to the item at `target` (now `item`; nullptr: gone) and tells the hook.
    void changed(const NodeId& target, const StoredItem* item);

    StorageConfig config_;
    Map items_;
    std::set<std::pair<TimePoint, NodeId>> by_expiry_;
    std::size_t bytes_ = 0;
    std::uint64_t changes_ = 0;
    std::unordered_map<Endpoint, Usage> usage_;            // by source_key
    std::set<std::pair<std::size_t, Endpoint>> by_items_;  // sources by items held
    std::uint64_t evicted_ = 0;
    std::function<void(const NodeId&)> erased_;
    ChangeHook changed_;
    std::function<void(const StoredItem&)> superseded_;
};

}  // namespace kad
