#pragma once
// BEP 5 write tokens: a store must carry the token that a find_value gave its sender's address, so
// a spoofed source address cannot store. A token is the first 8 bytes of HMAC-SHA256(secret, the
// requester's IP address); the secret rotates every `rotation`, and a token made with the current
// or the previous secret is valid, so a token lives one to two rotation periods.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kad/endpoint.hpp"
#include "kad/random.hpp"
#include "kad/time.hpp"

namespace kad {

class WriteTokens {
public:
    static constexpr std::size_t kSize = 8;

    // `rotation` must be positive.
    WriteTokens(Duration rotation, RandomSource& rng, TimePoint now);

    // The token for this requester's address (the port does not count).
    std::string issue(const Endpoint& requester) const;
    // Whether `token` was issued to this address by the current or the previous secret. Both
    // comparisons are made, in constant time: the time taken does not say which matched.
    bool valid(std::string_view token, const Endpoint& requester) const;

    // Rotates the secret if it is due.
    void rotate_if_due(TimePoint now);
    TimePoint next_rotation() const noexcept { return rotate_at_; }

private:
    using Secret = std::array<std::uint8_t, 32>;
    static std::string make(const Secret& secret, const Endpoint& requester);

    Duration rotation_;
    RandomSource& rng_;
    Secret secret_{};
    Secret previous_{};
    TimePoint rotate_at_;
};

}  // namespace kad
