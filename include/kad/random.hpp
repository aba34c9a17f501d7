#pragma once
// The injected source of randomness. The core asks a RandomSource for every random bit it uses
// (transaction IDs, token secrets, refresh targets, jitter), so a seeded source makes a whole
// simulated network reproducible and a cryptographic one serves production.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace kad {

// splitmix64's output function: every bit of x moves about half the bits of the result. For
// spreading a hash or a seed, not as a source of randomness.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

class RandomSource {
public:
    virtual ~RandomSource() = default;
    virtual void fill(std::span<std::uint8_t> out) = 0;

    // Eight bytes of fill(), as a number (in the machine's byte order).
    virtual std::uint64_t next_u64();
    // Uniform in [0, bound); bound must be > 0. Unbiased (rejection sampling).
    std::uint64_t uniform(std::uint64_t bound);
    // Uniform in [0, 1).
    double uniform_real();
    bool chance(double probability) { return uniform_real() < probability; }
};

// xoshiro256** seeded through splitmix64: fast, deterministic for a given seed, not secure.
// For tests, the simulator and kadsim.
class SeededRandom final : public RandomSource {
public:
    explicit SeededRandom(std::uint64_t seed);
    void fill(std::span<std::uint8_t> out) override;
    // The next output: what fill() would write as eight bytes, without the copies (a simulated
    // network draws one for each datagram's delay and loss).
    std::uint64_t next_u64() override { return next(); }
    std::uint64_t next() {
        const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = std::rotl(s_[3], 45);
        return result;
    }

private:
    std::array<std::uint64_t, 4> s_;
};

// OpenSSL's CSPRNG (RAND_bytes), read in blocks to keep the per-call cost low. For production.
// Throws std::runtime_error if OpenSSL cannot supply randomness (a start-up/environment failure).
class SystemRandom final : public RandomSource {
public:
    void fill(std::span<std::uint8_t> out) override;

private:
    std::array<std::uint8_t, 512> buf_{};
    std::size_t pos_ = buf_.size();
};

}  // namespace kad
