#pragma once
// The hashes and MACs kadnode needs, over OpenSSL's EVP interface. Each thread fetches a digest
// once and reuses one context, so hashing a key costs no allocation.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace kad {

using Sha1Digest = std::array<std::uint8_t, 20>;
using Sha256Digest = std::array<std::uint8_t, 32>;

Sha1Digest sha1(std::string_view data);
Sha256Digest sha256(std::string_view data);
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);

// Constant-time comparison, for MACs and tokens.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace kad
