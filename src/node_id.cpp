#include "kad/node_id.hpp"

#include <bit>
#include <cstring>

#include "kad/crypto.hpp"
#include "kad/random.hpp"

namespace kad {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<NodeId> NodeId::from_bytes(std::string_view raw) {
    if (raw.size() != kBytes) return std::nullopt;
    Bytes b;
    std::memcpy(b.data(), raw.data(), kBytes);
    return NodeId(b);
}

Expected<NodeId> NodeId::from_hex(std::string_view hex) {
    if (hex.size() != 2 * kBytes) {
        return unexpected("an id is 40 hex digits, got " + std::to_string(hex.size()) +
                          (hex.size() == 1 ? " character" : " characters"));
    }
    Bytes b;
    for (std::size_t i = 0; i < kBytes; ++i) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            std::size_t at = hi < 0 ? 2 * i : 2 * i + 1;
            return unexpected("an id is 40 hex digits; character " + std::to_string(at + 1) +
                              " is not a hex digit");
        }
        b[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return NodeId(b);
}

NodeId NodeId::from_key(std::string_view key) {
    return NodeId(sha1(key));
}

NodeId NodeId::random(RandomSource& rng) {
    Bytes b;
    rng.fill(b);
    return NodeId(b);
}

NodeId NodeId::random_with_prefix(const NodeId& prefix, int prefix_bits, RandomSource& rng) {
    if (prefix_bits <= 0) return random(rng);
    if (prefix_bits >= kBits) return prefix;
    Bytes b;
    rng.fill(b);
    const int full = prefix_bits / 8;
    std::memcpy(b.data(), prefix.b_.data(), full);
    if (int rest = prefix_bits % 8) {
        const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
        b[full] = static_cast<std::uint8_t>((prefix.b_[full] & mask) | (b[full] & ~mask));
    }
    return NodeId(b);
}

std::string NodeId::to_hex() const {
    std::string s(2 * kBytes, '0');
    for (std::size_t i = 0; i < kBytes; ++i) {
        s[2 * i] = kHexDigits[b_[i] >> 4];
        s[2 * i + 1] = kHexDigits[b_[i] & 0xf];
    }
    return s;
}

std::string NodeId::short_hex() const {
    return to_hex().substr(0, 8);
}

NodeId NodeId::with_bit_flipped(int i) const noexcept {
    NodeId r = *this;
    r.b_[i / 8] ^= static_cast<std::uint8_t>(0x80 >> (i % 8));
    return r;
}

NodeId operator^(const NodeId& a, const NodeId& b) noexcept {
    NodeId r;
    for (std::size_t i = 0; i < NodeId::kBytes; ++i) r.b_[i] = a.b_[i] ^ b.b_[i];
    return r;
}

std::strong_ordering operator<=>(const NodeId& a, const NodeId& b) noexcept {
    int c = std::memcmp(a.b_.data(), b.b_.data(), NodeId::kBytes);
    return c < 0 ? std::strong_ordering::less
                 : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
}

}  // namespace kad

std::size_t std::hash<kad::NodeId>::operator()(const kad::NodeId& id) const noexcept {
    // IDs are hashes or random already: their leading bytes are a good hash. Peer-chosen IDs
    // could collide on purpose; the tables keyed by them are bounded, so that costs time, not
    // memory.
    std::size_t h;
    std::memcpy(&h, id.bytes().data() + 4, sizeof h);
    return h;
}
