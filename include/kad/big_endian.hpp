#pragma once
// Big-endian loads of fixed-size byte strings (IDs, addresses), so that comparing the words
// compares the bytes in order, as memcmp would, without a call. Loads go through memcpy: no
// alignment or aliasing assumptions.

#include <bit>
#include <cstdint>
#include <cstring>

namespace kad {

inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
}

inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
    return v;
}

}  // namespace kad
