#include "kad/write_tokens.hpp"

#include "kad/crypto.hpp"

namespace kad {

WriteTokens::WriteTokens(Duration rotation, RandomSource& rng, TimePoint now)
    : rotation_(rotation), rng_(rng), rotate_at_(now + rotation) {
    rng_.fill(secret_);
    rng_.fill(previous_);
}

std::string WriteTokens::make(const Secret& secret, const Endpoint& requester) {
    const auto mac = hmac_sha256(secret, requester.address_raw());
    return std::string(reinterpret_cast<const char*>(mac.data()), kSize);
}

std::string WriteTokens::issue(const Endpoint& requester) const {
    return make(secret_, requester);
}

bool WriteTokens::valid(std::string_view token, const Endpoint& requester) const {
    const bool current = constant_time_equal(token, make(secret_, requester));
    const bool previous = constant_time_equal(token, make(previous_, requester));
    return current || previous;
}

void WriteTokens::rotate_if_due(TimePoint now) {
    if (now < rotate_at_) return;
    previous_ = secret_;
    rng_.fill(secret_);
    rotate_at_ = now + rotation_;
}

}  // namespace kad
