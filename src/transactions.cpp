#include "kad/transactions.hpp"

#include "kad/random.hpp"

namespace kad {

std::optional<std::uint16_t> TransactionTable::allocate(RandomSource& rng) const {
    if (entries_.size() >= capacity_ || entries_.size() >= 65536) return std::nullopt;
    // Random IDs make a blind reply spoof guess 16 bits; with the table at most a few percent
    // full, a handful of tries finds a free one.
    for (int i = 0; i < 64; ++i) {
        const auto tid = static_cast<std::uint16_t>(rng.uniform(65536));
        if (!entries_.count(tid)) return tid;
    }
    const auto start = static_cast<std::uint16_t>(rng.uniform(65536));
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const auto tid = static_cast<std::uint16_t>(start + i);
        if (!entries_.count(tid)) return tid;
    }
    return std::nullopt;
}

void TransactionTable::add(Entry e) {
    deadlines_.insert({deadline_of(e), e.tid});
    const std::uint16_t tid = e.tid;
    entries_.insert_or_assign(tid, std::move(e));
}

std::string TransactionTable::encode_tid(std::uint16_t tid) {
    return std::string{static_cast<char>(tid >> 8), static_cast<char>(tid & 0xff)};
}

TransactionTable::Match TransactionTable::take(std::string_view tid, const Endpoint& from,
                                               const std::optional<NodeId>& id, Entry& out) {
    if (tid.size() != 2) return Match::UnknownTransaction;
    const auto key = static_cast<std::uint16_t>(static_cast<std::uint8_t>(tid[0]) << 8 |
                                                static_cast<std::uint8_t>(tid[1]));
    auto it = entries_.find(key);
    if (it == entries_.end()) return Match::UnknownTransaction;
    if (it->second.to != from) return Match::WrongEndpoint;
    const bool wrong_id = id && it->second.expected_id && *id != *it->second.expected_id;
    deadlines_.erase({deadline_of(it->second), key});
    out = std::move(it->second);
    entries_.erase(it);
    return wrong_id ? Match::WrongId : Match::Ok;
}

void TransactionTable::expire(TimePoint now, std::vector<std::uint16_t>& soft,
                              std::vector<Entry>& hard) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        const std::uint16_t tid = deadlines_.begin()->second;
        deadlines_.erase(deadlines_.begin());
        auto it = entries_.find(tid);
        if (it == entries_.end()) continue;
        Entry& e = it->second;
        if (!e.soft_fired && e.hard_deadline > now) {
            e.soft_fired = true;
            deadlines_.insert({e.hard_deadline, tid});
            soft.push_back(tid);
            continue;
        }
        hard.push_back(std::move(e));
        entries_.erase(it);
    }
}

const TransactionTable::Entry* TransactionTable::find(std::uint16_t tid) const {
    auto it = entries_.find(tid);
    return it == entries_.end() ? nullptr : &it->second;
}

std::vector<TransactionTable::Entry> TransactionTable::take_all() {
    std::vector<Entry> all;
    all.reserve(entries_.size());
    for (auto& [tid, e] : entries_) all.push_back(std::move(e));
    entries_.clear();
    deadlines_.clear();
    return all;
}

TimePoint TransactionTable::next_deadline() const noexcept {
    return deadlines_.empty() ? TimePoint::max() : deadlines_.begin()->first;
}

}  // namespace kad
