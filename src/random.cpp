#include "kad/random.hpp"

#include <openssl/rand.h>

#include <bit>
#include <cstring>
#include <stdexcept>

namespace kad {

std::uint64_t RandomSource::next_u64() {
    std::array<std::uint8_t, 8> b;
    fill(b);
    std::uint64_t v;
    std::memcpy(&v, b.data(), sizeof v);
    return v;
}

std::uint64_t RandomSource::uniform(std::uint64_t bound) {
    if (bound <= 1) return 0;
    // Reject the top partial range so every residue is equally likely.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        std::uint64_t v = next_u64();
        if (v < limit) return v % bound;
    }
}

double RandomSource::uniform_real() {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
    return mix64(x += 0x9e3779b97f4a7c15ULL);
}
}  // namespace

SeededRandom::SeededRandom(std::uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
}

void SeededRandom::fill(std::span<std::uint8_t> out) {
    std::size_t i = 0;
    while (i < out.size()) {
        std::uint64_t v = next();
        std::size_t n = std::min<std::size_t>(8, out.size() - i);
        std::memcpy(out.data() + i, &v, n);
        i += n;
    }
}

void SystemRandom::fill(std::span<std::uint8_t> out) {
    std::size_t i = 0;
    while (i < out.size()) {
        if (pos_ == buf_.size()) {
            if (RAND_bytes(buf_.data(), static_cast<int>(buf_.size())) != 1) {
                throw std::runtime_error("OpenSSL RAND_bytes failed: no secure randomness");
            }
            pos_ = 0;
        }
        std::size_t n = std::min(out.size() - i, buf_.size() - pos_);
        std::memcpy(out.data() + i, buf_.data() + pos_, n);
        // Bytes handed out are erased so they cannot be handed out twice or read later.
        std::memset(buf_.data() + pos_, 0, n);
        pos_ += n;
        i += n;
    }
}

}  // namespace kad
