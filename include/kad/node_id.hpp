#pragma once
// A 160-bit Kademlia identifier: node IDs, lookup targets and item keys (SHA-1 of the key string).
// Distances are XOR, compared as 160-bit big-endian numbers; bit 0 is the most significant bit.

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kad/big_endian.hpp"
#include "kad/expected.hpp"

namespace kad {

class RandomSource;

class NodeId {
public:
    static constexpr std::size_t kBytes = 20;
    static constexpr int kBits = 160;
    using Bytes = std::array<std::uint8_t, kBytes>;

    constexpr NodeId() = default;  // all zero
    explicit constexpr NodeId(const Bytes& b) : b_(b) {}

    // Exactly 20 raw bytes, as carried on the wire.
    static std::optional<NodeId> from_bytes(std::string_view raw);
    // Exactly 40 hex digits (either case). The error names what is wrong.
    static Expected<NodeId> from_hex(std::string_view hex);
    // The DHT key of a string: SHA-1 of its bytes.
    static NodeId from_key(std::string_view key);
    static NodeId random(RandomSource& rng);
    // A random ID whose first `prefix_bits` bits are those of `prefix` (0..160).
    static NodeId random_with_prefix(const NodeId& prefix, int prefix_bits, RandomSource& rng);

    const Bytes& bytes() const noexcept { return b_; }
    std::string_view raw() const noexcept {
        return {reinterpret_cast<const char*>(b_.data()), b_.size()};
    }
    std::string to_hex() const;
    // The first 8 hex digits, for prompts and logs.
    std::string short_hex() const;

    bool bit(int i) const noexcept { return (b_[i / 8] >> (7 - i % 8)) & 1; }
    NodeId with_bit_flipped(int i) const noexcept;

    friend NodeId operator^(const NodeId& a, const NodeId& b) noexcept;
    // Word by word, inline: the defaulted comparison calls memcmp, and lookups compare IDs often.
    friend bool operator==(const NodeId& a, const NodeId& b) noexcept {
        std::uint64_t x[2], y[2];
        std::uint32_t xt, yt;
        std::memcpy(x, a.b_.data(), 16);
        std::memcpy(y, b.b_.data(), 16);
        std::memcpy(&xt, a.b_.data() + 16, 4);
        std::memcpy(&yt, b.b_.data() + 16, 4);
        return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (xt ^ yt)) == 0;
    }
    friend std::strong_ordering operator<=>(const NodeId& a, const NodeId& b) noexcept;

private:
    Bytes b_{};
};

// The two below are inline: lookups, closest() and the simulator's scoring call them in their
// innermost loops, where a call costs as much as the comparison.

// Number of leading bits a and b share: 160 when equal.
inline int common_prefix_length(const NodeId& a, const NodeId& b) noexcept {
    const std::uint8_t* x = a.bytes().data();
    const std::uint8_t* y = b.bytes().data();
    if (std::uint64_t d = load_be64(x) ^ load_be64(y)) return std::countl_zero(d);
    if (std::uint64_t d = load_be64(x + 8) ^ load_be64(y + 8)) return 64 + std::countl_zero(d);
    if (std::uint32_t d = load_be32(x + 16) ^ load_be32(y + 16)) return 128 + std::countl_zero(d);
    return NodeId::kBits;
}

// <0 if a is closer to target than b, 0 if equally close (a == b), >0 if farther.
inline int compare_distance(const NodeId& target, const NodeId& a, const NodeId& b) noexcept {
    const std::uint8_t* t = target.bytes().data();
    const std::uint8_t* p = a.bytes().data();
    const std::uint8_t* q = b.bytes().data();
    for (int off : {0, 8}) {
        const std::uint64_t tw = load_be64(t + off);
        const std::uint64_t da = load_be64(p + off) ^ tw;
        const std::uint64_t db = load_be64(q + off) ^ tw;
        if (da != db) return da < db ? -1 : 1;
    }
    const std::uint32_t tw = load_be32(t + 16);
    const std::uint32_t da = load_be32(p + 16) ^ tw;
    const std::uint32_t db = load_be32(q + 16) ^ tw;
    if (da != db) return da < db ? -1 : 1;
    return 0;
}

// Orders IDs by XOR distance to a target, nearest first.
struct CloserTo {
    NodeId target;
    bool operator()(const NodeId& a, const NodeId& b) const noexcept {
        return compare_distance(target, a, b) < 0;
    }
};

}  // namespace kad

template <>
struct std::hash<kad::NodeId> {
    std::size_t operator()(const kad::NodeId& id) const noexcept;
};
