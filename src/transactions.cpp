#include "kad/transactions.hpp"

#include <algorithm>

#include "kad/random.hpp"

namespace kad {

std::size_t TransactionTable::index_of(std::uint16_t tid) const {
    return static_cast<std::size_t>(std::find(tids_.begin(), tids_.end(), tid) - tids_.begin());
}

void TransactionTable::remove_at(std::size_t i) {
    // Order does not matter: the last entry takes the hole.
    if (i + 1 != entries_.size()) {
        entries_[i] = std::move(entries_.back());
        tids_[i] = tids_.back();
    }
    entries_.pop_back();
    tids_.pop_back();
    // A table gives its memory back when it empties (most nodes, most of the time, have no
    // query open), or falls to a quarter after a busy spell (a bootstrap): a simulator holds
    // 100,000 tables, a hash map's nodes came and went with their entries.
    if (entries_.empty() ||
        (entries_.capacity() > 32 && entries_.size() < entries_.capacity() / 4)) {
        entries_.shrink_to_fit();
        tids_.shrink_to_fit();
        deadlines_.shrink_to_fit();
    }
}

void TransactionTable::add_deadline(const Deadline& d) {
    auto it = std::lower_bound(deadlines_.begin(), deadlines_.end(), d);
    if (it == deadlines_.end() || *it != d) deadlines_.insert(it, d);  // a set: no duplicates
}

void TransactionTable::erase_deadline(const Deadline& d) {
    auto it = std::lower_bound(deadlines_.begin(), deadlines_.end(), d);
    if (it != deadlines_.end() && *it == d) deadlines_.erase(it);
}

std::optional<std::uint16_t> TransactionTable::allocate(RandomSource& rng) const {
    if (entries_.size() >= capacity_ || entries_.size() >= 65536) return std::nullopt;
    // Random IDs make a blind reply spoof guess 16 bits; with the table at most a few percent
    // full, a handful of tries finds a free one.
    for (int i = 0; i < 64; ++i) {
        const auto tid = static_cast<std::uint16_t>(rng.uniform(65536));
        if (index_of(tid) == entries_.size()) return tid;
    }
    const auto start = static_cast<std::uint16_t>(rng.uniform(65536));
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const auto tid = static_cast<std::uint16_t>(start + i);
        if (index_of(tid) == entries_.size()) return tid;
    }
    return std::nullopt;
}

void TransactionTable::add(Entry e) {
    add_deadline({deadline_of(e), e.tid});
    if (const std::size_t i = index_of(e.tid); i != entries_.size()) {
        entries_[i] = std::move(e);  // as a map's insert_or_assign
        return;
    }
    tids_.push_back(e.tid);
    entries_.push_back(std::move(e));
}

std::string TransactionTable::encode_tid(std::uint16_t tid) {
    return std::string{static_cast<char>(tid >> 8), static_cast<char>(tid & 0xff)};
}

TransactionTable::Match TransactionTable::take(std::string_view tid, const Endpoint& from,
                                               const std::optional<NodeId>& id, Entry& out) {
    if (tid.size() != 2) return Match::UnknownTransaction;
    const auto key = static_cast<std::uint16_t>(static_cast<std::uint8_t>(tid[0]) << 8 |
                                                static_cast<std::uint8_t>(tid[1]));
    const std::size_t i = index_of(key);
    if (i == entries_.size()) return Match::UnknownTransaction;
    Entry& e = entries_[i];
    if (e.to != from) return Match::WrongEndpoint;
    const bool wrong_id = id && e.expected_id && *id != *e.expected_id;
    erase_deadline({deadline_of(e), key});
    out = std::move(e);
    remove_at(i);
    return wrong_id ? Match::WrongId : Match::Ok;
}

void TransactionTable::expire(TimePoint now, std::vector<std::uint16_t>& soft,
                              std::vector<Entry>& hard) {
    // Everything due, in order, out at once. A soft timeout's hard deadline, added back, is
    // later than now, so it never comes due in this same call.
    const auto due_end =
        std::upper_bound(deadlines_.begin(), deadlines_.end(), Deadline{now, UINT16_MAX});
    if (due_end == deadlines_.begin()) return;
    std::vector<Deadline> due(deadlines_.begin(), due_end);
    deadlines_.erase(deadlines_.begin(), due_end);
    for (const auto& [at, tid] : due) {
        const std::size_t i = index_of(tid);
        if (i == entries_.size()) continue;
        Entry& e = entries_[i];
        if (!e.soft_fired && e.hard_deadline > now) {
            e.soft_fired = true;
            add_deadline({e.hard_deadline, tid});
            soft.push_back(tid);
            continue;
        }
        hard.push_back(std::move(e));
        remove_at(i);
    }
}

const TransactionTable::Entry* TransactionTable::find(std::uint16_t tid) const {
    const std::size_t i = index_of(tid);
    return i == entries_.size() ? nullptr : &entries_[i];
}

std::vector<TransactionTable::Entry> TransactionTable::take_all() {
    std::vector<Entry> all = std::move(entries_);
    entries_ = {};
    tids_ = {};
    deadlines_ = {};
    return all;
}

TimePoint TransactionTable::next_deadline() const noexcept {
    return deadlines_.empty() ? TimePoint::max() : deadlines_.front().first;
}

}  // namespace kad
