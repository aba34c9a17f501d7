#include "kad/bep42.hpp"

#include <algorithm>
#include <array>

#include "kad/random.hpp"

namespace kad::bep42 {

namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected
        t[i] = c;
    }
    return t;
}

constexpr auto kCrcTable = make_crc_table();

// BEP 42: the address bits that count (a /22-ish prefix, fewer bits the higher they are, so that
// one operator's neighbouring addresses do not give it a free choice of IDs).
constexpr std::array<std::uint8_t, 4> kMaskV4{0x03, 0x0f, 0x3f, 0xff};
constexpr std::array<std::uint8_t, 8> kMaskV6{0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};

// CRC-32C of the masked address with r in its top bits: the 21 bits an ID must start with.
std::uint32_t id_crc(const Endpoint& address, std::uint8_t r) {
    std::array<std::uint8_t, 8> ip{};
    const std::size_t n = address.is_v4() ? kMaskV4.size() : kMaskV6.size();
    for (std::size_t i = 0; i < n; ++i) {
        ip[i] = address.address_bytes()[i] & (address.is_v4() ? kMaskV4[i] : kMaskV6[i]);
    }
    ip[0] |= static_cast<std::uint8_t>((r & 7) << 5);
    return crc32c(std::span<const std::uint8_t>(ip.data(), n));
}

bool same_address(const Endpoint& a, const Endpoint& b) {
    return a.is_v4() == b.is_v4() && a.address_raw() == b.address_raw();
}

// Who a vote is counted as: one network (an IPv4 /24, an IPv6 /64), so that a party with many
// addresses in one network has one voice; on a local network, where nobody outside can speak,
// the endpoint, so that nodes on one host are told apart.
Endpoint voter_key(const Endpoint& voter) {
    if (is_exempt(voter)) return voter;
    std::array<std::uint8_t, 16> prefix{};
    const std::size_t n = voter.is_v4() ? 3 : 8;
    std::copy_n(voter.address_bytes().begin(), n, prefix.begin());
    if (voter.is_v4()) return Endpoint::v4({prefix[0], prefix[1], prefix[2], 0}, 0);
    return Endpoint::v6(prefix, 0);
}

}  // namespace

std::uint32_t crc32c(std::span<const std::uint8_t> data) noexcept {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::uint8_t b : data) c = kCrcTable[(c ^ b) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool is_exempt(const Endpoint& address) noexcept {
    return address.is_loopback() || address.is_private() || address.is_unspecified();
}

const char* to_string(IdClass c) noexcept {
    switch (c) {
        case IdClass::Conforming:
            return "conforming";
        case IdClass::NonConforming:
            return "nonconforming";
        case IdClass::Exempt:
            return "exempt";
    }
    return "?";
}

IdClass classify(const NodeId& id, const Endpoint& address) noexcept {
    if (is_exempt(address)) return IdClass::Exempt;
    const auto& b = id.bytes();
    const std::uint32_t crc = id_crc(address, b[19]);
    const bool ok = b[0] == static_cast<std::uint8_t>(crc >> 24) &&
                    b[1] == static_cast<std::uint8_t>(crc >> 16) &&
                    (b[2] & 0xf8) == (static_cast<std::uint8_t>(crc >> 8) & 0xf8);
    return ok ? IdClass::Conforming : IdClass::NonConforming;
}

NodeId make_id(const Endpoint& address, std::uint8_t last, const NodeId& filler) noexcept {
    NodeId::Bytes b = filler.bytes();
    const std::uint32_t crc = id_crc(address, last);
    b[0] = static_cast<std::uint8_t>(crc >> 24);
    b[1] = static_cast<std::uint8_t>(crc >> 16);
    b[2] = static_cast<std::uint8_t>(((crc >> 8) & 0xf8) | (b[2] & 7));
    b[19] = last;
    return NodeId(b);
}

NodeId make_id(const Endpoint& address, RandomSource& rng) {
    const NodeId filler = NodeId::random(rng);
    return make_id(address, filler.bytes()[19], filler);
}

// ---- AddressVoter -------------------------------------------------------------------------------

void AddressVoter::expire(TimePoint now) {
    // Each candidate's votes are in the order they came (add() counts a ballot at the node's
    // clock, which never goes back): the expired ones are at the front.
    for (auto& c : candidates_) {
        const auto live = std::find_if(c.votes.begin(), c.votes.end(),
                                       [&](const Vote& v) { return now - v.at < config_.window; });
        c.votes.erase(c.votes.begin(), live);
    }
    std::erase_if(candidates_, [](const Candidate& c) { return c.votes.empty(); });
}

AddressVoter::Candidate* AddressVoter::find(const Endpoint& address) {
    for (auto& c : candidates_) {
        if (same_address(c.address, address)) return &c;
    }
    return nullptr;
}

void AddressVoter::forget(const Endpoint& voter) {
    // A voter holds one vote at most: add() forgets its last before counting the next.
    for (auto c = candidates_.begin(); c != candidates_.end(); ++c) {
        const auto v = std::find_if(c->votes.begin(), c->votes.end(),
                                    [&](const Vote& x) { return x.voter == voter; });
        if (v == c->votes.end()) continue;
        c->votes.erase(v);
        if (c->votes.empty()) candidates_.erase(c);
        return;
    }
}

AddressVoter::Candidate& AddressVoter::candidate(const Endpoint& address) {
    if (Candidate* c = find(address)) return *c;
    if (candidates_.size() >= config_.max_candidates) {
        // The weakest address that is not the agreed one gives way.
        auto weakest = candidates_.end();
        for (auto it = candidates_.begin(); it != candidates_.end(); ++it) {
            if (agreed_ && same_address(it->address, *agreed_)) continue;
            if (weakest == candidates_.end() || it->votes.size() < weakest->votes.size()) {
                weakest = it;
            }
        }
        if (weakest != candidates_.end()) candidates_.erase(weakest);
    }
    candidates_.push_back({address, {}});
    return candidates_.back();
}

bool AddressVoter::add(TimePoint now, const Ballot& ballot) {
    if (ballot.says.is_unusable()) return false;
    expire(now);
    const Endpoint key = voter_key(ballot.from);
    forget(key);  // a voter holds one opinion: its latest
    Candidate& c = candidate(ballot.says);
    if (ballot.port_known || c.votes.empty()) c.address = ballot.says;
    if (c.votes.size() >= config_.max_votes_per_candidate) c.votes.erase(c.votes.begin());
    c.votes.push_back({key, now});

    const Candidate* leader = nullptr;
    for (const auto& cand : candidates_) {
        if (!leader || cand.votes.size() > leader->votes.size()) leader = &cand;
    }
    const Candidate* current = agreed_ ? find(*agreed_) : nullptr;
    if (current) agreed_ = current->address;  // its latest port
    if (leader->votes.size() < config_.min_votes || leader == current) return false;
    if (current && leader->votes.size() <= current->votes.size()) return false;
    const bool changed = !agreed_ || !same_address(*agreed_, leader->address);
    agreed_ = leader->address;
    return changed;
}

std::size_t AddressVoter::agreed_votes() const noexcept {
    if (!agreed_) return 0;
    for (const auto& c : candidates_) {
        if (same_address(c.address, *agreed_)) return c.votes.size();
    }
    return 0;
}

std::size_t AddressVoter::total_votes() const noexcept {
    std::size_t n = 0;
    for (const auto& c : candidates_) n += c.votes.size();
    return n;
}

}  // namespace kad::bep42
